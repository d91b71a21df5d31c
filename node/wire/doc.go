// Package wire holds the bytes petrel nodes exchange over libp2p streams, with no network or
// storage inside, so every decoder here can be fuzzed on its own.
//
// Stream framing: every frame is a uvarint length followed by that many bytes, at most
// MaxFrame. Protocols:
//
//   - MessageProtocol (/petrel/msg/1.0.0): the sender opens a stream and writes Deliver
//     frames; the receiver answers each with an Ack frame once what it carried is durable in
//     its store (or was already). Frames are pipelined: a sender keeps up to a window of
//     Deliver frames unacknowledged. Each direction of a conversation uses its own stream.
//   - PrekeyProtocol (/petrel/prekey/1.0.0): the requester writes one PrekeyRequest frame;
//     the node answers with one frame holding its prekey bundle (crypto/prekey wire form),
//     one-time prekey consumed, or an error frame.
//
// Deliver: type 0x01 ‖ envelope id (16 random bytes, the dedup key) ‖ uvarint len(initial) ‖
// initial (a PQXDH initial message, or empty once the session is confirmed) ‖ the Double
// Ratchet message (the rest).
// Ack: type 0x02 ‖ envelope id (16) ‖ status (1 byte, AckStatus).
//
//   - LiveProtocol (/petrel/live/1.0.0): long-lived streams of Live signal frames
//     (presence heartbeat, hidden, typing) to a contact; nothing is answered.
//
// Groups (group.go): a signed group operation is 0x01 ‖ uvarint len(body) ‖ body (JSON
// GroupOp) ‖ Ed25519 signature by the author's identity over "petrel_v1_sig_gstate\x00" ‖
// body; a group envelope (the GossipSub payload) is 0x01 ‖ a crypto/senderkey message.
//
// Inside the ratchet travels a Content: UTF-8 JSON (see Content), bounded by MaxContent,
// parsed strictly by ParseContent. docs/PROTOCOL.md documents every field.
package wire
