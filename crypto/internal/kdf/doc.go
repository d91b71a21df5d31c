// Package kdf holds the key-derivation functions of petrel's 1:1 protocol,
// named as in the Signal specifications they come from, together with the
// specification constants (KDF info strings, key sizes) they use.
//
// It owns no state and speaks no wire format of its own; every function is a
// thin, fixed composition of crypto/hkdf and crypto/hmac over SHA-256:
//
//	PQXDH(info, dh1‖dh2‖dh3[‖dh4], ss)
//	    SK = HKDF(IKM = 0xFF×32 ‖ dh1 ‖ dh2 ‖ dh3 [‖ dh4] ‖ ss,
//	              salt = 0×32, info, L = 32)              PQXDH rev 1 §2.2, §3.3
//	KDFRK(rk, dhOut)
//	    rk' ‖ ck = HKDF(IKM = dhOut, salt = rk,
//	                    info = "petrel_v1_Ratchet", L = 64)  Double Ratchet §5.2
//	KDFCK(ck)
//	    mk  = HMAC(ck, 0x01)
//	    ck' = HMAC(ck, 0x02)                                Double Ratchet §5.2
//	MessageKeys(mk)
//	    key ‖ nonce = HKDF(IKM = mk, salt = 0×32,
//	                       info = "petrel_v1_MessageKeys", L = 44)
//
// The 44 bytes of MessageKeys are a ChaCha20-Poly1305 key (32) and nonce (12).
// Because every message key is used for exactly one AEAD operation, a fixed
// derived nonce is safe.
package kdf
