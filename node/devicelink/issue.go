package devicelink

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/store"
)

// Implementation constants.
const (
	// LinkTTL is how long a link may be used: short, because whoever photographs it in that
	// time can try it (once).
	LinkTTL = 10 * time.Minute
	// ResumeTTL is how long a linked device may resume its history transfer.
	ResumeTTL = 24 * time.Hour
	// MaxAttempts is how many wrong proofs burn a link (or a resume credential).
	MaxAttempts = 5

	keyLink   = "dl/l/" // + link id: linkRecord
	keyResume = "dl/r/" // + resume id: resumeRecord
	keyJoin   = "dl/j"  // the new device's transfer state: joinRecord
)

// linkRecord is an issued link as the primary keeps it: the proof key (a hash of the
// secret, never the secret), its expiry, the wrong proofs it has seen and whether it was
// used.
type linkRecord struct {
	Key      []byte `json:"key"`
	Expires  int64  `json:"expires"` // Unix ms
	Attempts int    `json:"attempts"`
	Spent    bool   `json:"spent"`
}

// resumeRecord is a resume credential as the primary keeps it, for the device it was
// issued to.
type resumeRecord struct {
	Key      []byte `json:"key"`
	PeerID   string `json:"peer_id"`
	DeviceID string `json:"device_id"`
	Expires  int64  `json:"expires"`
	Attempts int    `json:"attempts"`
}

// Issue makes a new single-use link to this node (self, reachable at addrs and through
// relays), valid for LinkTTL from now, and stores its record (the proof key and expiry;
// sealed by the store like every record). Links past their expiry are swept at the same
// time.
func Issue(ctx context.Context, st *store.Store, now time.Time, self peer.ID, addrs, relays []string) (*Link, error) {
	l := &Link{PeerID: self, Addrs: addrs, Relays: relays, Expires: now.Add(LinkTTL).Truncate(time.Second)}
	if _, err := rand.Read(l.Secret[:]); err != nil {
		return nil, fmt.Errorf("devicelink: %w", err)
	}
	if len(l.Addrs) > maxAddrs {
		l.Addrs = l.Addrs[:maxAddrs]
	}
	if len(l.Relays) > maxAddrs {
		l.Relays = l.Relays[:maxAddrs]
	}
	// A link must fit MaxLinkLen (and a QR code): addresses go, last first, until it does.
	for {
		_, err := l.payload()
		if err == nil {
			break
		}
		switch {
		case len(l.Addrs) > 1:
			l.Addrs = l.Addrs[:len(l.Addrs)-1]
		case len(l.Relays) > 1:
			l.Relays = l.Relays[:len(l.Relays)-1]
		default:
			return nil, err
		}
	}
	key := proofKey(l.Secret[:])
	rec := linkRecord{Key: key[:], Expires: l.Expires.UnixMilli()}
	err := st.Update(ctx, func(tx *store.Tx) error {
		if err := sweep(tx, now); err != nil {
			return err
		}
		return store.PutJSON(tx, []byte(keyLink+l.ID()), rec)
	})
	if err != nil {
		return nil, fmt.Errorf("devicelink: issue: %w", err)
	}
	return l, nil
}

// sweep deletes the link records past their expiry and the resume records past theirs.
func sweep(tx *store.Tx, now time.Time) error {
	var old [][]byte
	for _, p := range []string{keyLink, keyResume} {
		err := tx.Iterate(store.IterOptions{Prefix: []byte(p)}, func(k, v []byte) (bool, error) {
			var r struct {
				Expires int64 `json:"expires"`
			}
			if err := jsonUnmarshal(v, &r); err != nil || r.Expires < now.UnixMilli() {
				old = append(old, k)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	for _, k := range old {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Proof labels: each side's proof is an HMAC-SHA256 under the proof key over its label and
// the transcript (both peer ids and the new device's key), so neither proof can stand for
// the other, and neither can be replayed by a peer with another peer id.
const (
	labelNewProof     = "petrel_v1_devicelink_new\x00"
	labelPrimaryProof = "petrel_v1_devicelink_primary\x00"
	labelResumeProof  = "petrel_v1_devicelink_resume\x00"
	labelResumeKey    = "petrel_v1_devicelink_resume_key\x00"
)

// proof is HMAC-SHA256(key, label ‖ u16 len ‖ primary ‖ u16 len ‖ device ‖ u16 len ‖ devKey).
func proof(key []byte, label string, primary, device peer.ID, devKey []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	for _, f := range [][]byte{[]byte(primary), []byte(device), devKey} {
		m.Write([]byte{byte(len(f) >> 8), byte(len(f))})
		m.Write(f)
	}
	return m.Sum(nil)
}

// domainHello separates the new device's signature of its hello from every other
// signature made with an identity key.
const domainHello identity.Domain = "petrel_v1_sig_devicelink_hello\x00"

// helloTranscript is what the new device signs with its device key: both peer ids, the
// key and the link id, each u16-length-prefixed.
func helloTranscript(primary, device peer.ID, key []byte, link string) []byte {
	var b []byte
	for _, f := range [][]byte{[]byte(primary), []byte(device), key, []byte(link)} {
		b = append(b, byte(len(f)>>8), byte(len(f)))
		b = append(b, f...)
	}
	return b
}

func resumeKey(cred []byte) [32]byte {
	return sha256.Sum256(append([]byte(labelResumeKey), cred...))
}
