// Package presence carries a node's live signals to and from its contacts: presence
// heartbeats and typing marks over one long-lived direct stream per contact's peer
// (wire.LiveProtocol, docs/PROTOCOL.md "Presence and typing"), the online/offline and
// typing state derived from them, and the ephemeral socket frames (node/api PresenceFrame
// and TypingFrame) handed to the UIs subscribed (Subscribers). Nothing here is stored but
// last seen times.
//
// The Noise channel authenticates the peer and the receiver accepts signals only from its
// contacts' peer ids, so only contacts learn them. What the service knows of contacts and
// groups it asks through Book, a struct of functions the façade fills in; it holds no
// pointer back to the façade.
//
// Store keys (values sealed by node/store):
//
//	pr/<contact id>                a contact's last seen time (ms, decimal)
package presence
