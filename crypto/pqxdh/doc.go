// Package pqxdh implements petrel's session setup: Signal's PQXDH (revision 1,
// §2–3) with suite 0x01 (X25519, SHA-256, ML-KEM-768), handing the shared
// secret to the Double Ratchet (package ratchet). It owns the initial message
// wire format and the rule for simultaneous initiation.
//
// # API
//
//	func Initiate(me *identity.Identity, theirs *prekey.Bundle) (*ratchet.State, []byte, error)
//	func Respond(me *identity.Identity, store *prekey.Store, initial []byte, now time.Time) (*ratchet.State, []uint32, error)
//	func InitiatorIdentity(initial []byte) (*identity.PublicIdentity, error)
//	func AssociatedData(initiator, responder *identity.PublicIdentity) []byte
//	func Resolve(a, b *ratchet.State) *ratchet.State
//
// Typical use by the node:
//
//	st, initial, err := pqxdh.Initiate(me, bundle)     // Alice
//	ct, err := st.Encrypt(text)                         // send initial ‖ ct (framed by the node)
//
//	st, used, err := pqxdh.Respond(me, store, initial, time.Now()) // Bob
//	text, err := st.Decrypt(ct)
//	if err == nil { err = store.Consume(used) }         // then persist store and st
//
// # Handshake
//
//	Alice (initiator)                 directory / Bob's node              Bob (responder)
//	  |                                       |   publish: IKB, SPKB+sig,        |
//	  |                                       |<-- PQSPKB (last resort)+sig, ----|
//	  |                                       |   OPKB…, PQOPKB…+sigs            |
//	  |-- fetch bundle ---------------------->|                                  |
//	  |<-- IKB, SPKB, sig, PQPKB, sig, [OPKB] |                                  |
//	  | verify both signatures with IKB (Ed25519, domain-separated)              |
//	  | EKA = GENERATE_DH(); (SS, CT) = ML-KEM.Encaps(PQPKB)                     |
//	  | DH1 = DH(IKA, SPKB)  DH2 = DH(EKA, IKB)                                  |
//	  | DH3 = DH(EKA, SPKB)  DH4 = DH(EKA, OPKB) (if OPKB)                       |
//	  | SK = HKDF(0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS, 0×32, info, 32)        |
//	  | ratchet: RatchetInitAlice(SK, SPKB); m0 = Encrypt(…)                     |
//	  |-- initial message (IKA, EKA, ids, CT) ‖ m0 ----------------------------->|
//	  |                                       | look up SPKB, [OPKB], PQPKB      |
//	  |                                       | SS = ML-KEM.Decaps(PQPKB, CT)    |
//	  |                                       | same DH1..DH4, same SK           |
//	  |                                       | RatchetInitBob(SK, SPKB pair)    |
//	  |                                       | Decrypt(m0) ok → Consume(ids)    |
//	  |<------------------------------------------------------ m1 (DH step) ----|
//
// info = "petrel_X25519_SHA-256_ML-KEM-768_v1"; "petrel_X25519_SHA-256_ML-KEM-1024_v1"
// is reserved for suite 0x02. IKA and IKB are the identities' X25519 keys
// (package identity); AD = IKA ‖ IKB where each is the 64-byte identity key
// Ed25519 ‖ X25519, and the ratchet binds it into every message.
//
// Keys refused: non-canonical or low-order X25519 keys (ephemeral, prekeys,
// identity), X25519 outputs of all zeros, ML-KEM encapsulation keys that fail
// FIPS 203's check, ciphertexts of the wrong size.
//
// # Wire format: initial message (1263 bytes for suite 0x01)
//
//	+---------+-----------+-------------------------+----------------+
//	| ver (1) | suite (1) | initiator identity (129)| EKA (32)       |
//	+---------+-----------+-------------------------+----------------+
//	| SPK id (4) | OPK id (4, 0 = none) | PQ prekey id (4) | CT (1088) |
//	+------------+----------------------+------------------+-----------+
//	ver   = 0x01
//	suite = 0x01 X25519 + SHA-256 + ML-KEM-768; 0x02 reserved (ML-KEM-1024)
//	initiator identity = package identity's 129-byte public form (verified)
//	ids are big-endian; the PQ prekey may be one-time or last-resort.
//
// # Simultaneous initiation
//
// If Alice and Bob initiate to each other at once, each ends up with two
// sessions. Resolve picks, on both sides, the session whose initiator has the
// lower identity key; the other is kept only to decrypt what is already in
// flight.
package pqxdh
