package media

import (
	"encoding/hex"
	"errors"
	"testing"
)

// TestManifestReusingAFileIDIsRefused is the attack of a member who learned alice's file
// id (a file alice sent to a group they share) and sends bob a manifest with that id and
// their own key and content first: when alice's own message with the file comes, bob's
// node must not show the attacker's content for it. The file id is the sender's claim, so
// a manifest is taken for a known id only when it describes the same file (key, size,
// SHA-256, chunks); one that does not is refused (ErrFileConflict), and the first file
// stays what it was.
func TestManifestReusingAFileIDIsRefused(t *testing.T) {
	alice, mallory := newSender(t), newSender(t)
	bob := newTestStore(t, Options{})
	_, real := alice.send(t, randomBytes(1, ChunkSize+100), "report.pdf", "")
	_, forged := mallory.send(t, randomBytes(2, ChunkSize+100), "report.pdf", "")
	forged.File = real.File // claims alice's file id

	mid, err := bob.Add(ctxT(t), forged)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Add(ctxT(t), real); !errors.Is(err, ErrFileConflict) {
		t.Fatalf("alice's manifest after a forged one with her file id: %v, want ErrFileConflict", err)
	}
	a, err := bob.Info(mid)
	if err != nil || a.SHA256 != hex.EncodeToString(forged.SHA256) {
		t.Fatalf("the first file changed: %+v %v", a, err)
	}
	// The same manifest again is the same file: taken, same id (a forward, a resend).
	if again, err := bob.Add(ctxT(t), forged); err != nil || again != mid {
		t.Fatalf("the same manifest again: %s %v, want %s", again, err, mid)
	}
	// A forged thumbnail is caught the same way.
	_, small := alice.send(t, randomBytes(3, 5000), "small.jpg", "")
	if _, err := bob.Add(ctxT(t), small); err != nil {
		t.Fatal(err)
	}
	_, other := mallory.send(t, randomBytes(4, 5000), "other.jpg", "")
	_, carrier := mallory.send(t, randomBytes(5, 7000), "c.bin", "")
	other.File, other.MIME = small.File, "image/jpeg"
	carrier.Thumbnail = &other
	if _, err := bob.Add(ctxT(t), carrier); !errors.Is(err, ErrFileConflict) {
		t.Fatalf("a thumbnail reusing a known file id with other content: %v, want ErrFileConflict", err)
	}
}
