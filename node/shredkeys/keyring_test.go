package shredkeys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/store"
)

func secret(t *testing.T, what string) string {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	return what + " " + hex.EncodeToString(b)
}

// findIn reports which of the haystacks contain needle.
func findIn(hay map[string][]byte, needle []byte) []string {
	var out []string
	for name, b := range hay {
		if bytes.Contains(b, needle) {
			out = append(out, name)
		}
	}
	return out
}

// TestDestroyedContentLeavesNoTrace: content deleted from the store is still in Badger's
// files and opens with the passphrase until its bucket key is destroyed; after that, no
// file of the data directory — raw, or Badger opened directly with the data key, every
// version of every value — holds the plaintext or the key, and no key the key file yields
// opens what Badger still holds. Content of another bucket stays readable.
func TestDestroyedContentLeavesNoTrace(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	doomed, kept := secret(t, "doomed"), secret(t, "kept")
	soon, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	later, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	n.put(t, soon, "msg/1", doomed)
	n.put(t, later, "msg/2", kept)
	soonKey := n.bucketKeyBytes(t, soon)
	// The message expires: its record is deleted, as the messenger will do.
	n.del(t, "msg/1")
	if refs, _ := n.refs(t, soon); refs != 0 {
		t.Fatalf("refs after delete = %d", refs)
	}
	n.close()

	// Before the key is destroyed, the attacker's tools recover the deleted message: the
	// deletion alone is not enough, and the tools work.
	dk := dataKey(t, n.dir)
	vals, keys := badgerValues(t, n.dir, dk)
	got := tryOpen(vals, keys, keysInKeyFile(t, n.dir, dk))
	if !containsString(got, doomed) {
		t.Fatalf("forensic tools did not recover the deleted message before destruction (recovered %d items): the test cannot see what it looks for", len(got))
	}

	n.restart(t)
	n.clk.advance(51 * time.Minute) // past the end of soon's window
	destroyed, err := n.kr.Sweep(ctx, n.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(destroyed) != 1 || destroyed[0] != soon {
		t.Fatalf("Sweep destroyed %v, want [%v]", destroyed, soon)
	}
	if v, err := n.get("msg/2"); err != nil || v != kept {
		t.Fatalf("content of another bucket after the sweep: %q, %v", v, err)
	}
	n.close()

	dk = dataKey(t, n.dir)
	files := rawFiles(t, n.dir)
	for _, needle := range [][]byte{[]byte(doomed), soonKey} {
		if where := findIn(files, needle); len(where) > 0 {
			t.Errorf("raw bytes of %v hold the destroyed content or key", where)
		}
	}
	vals, keys = badgerValues(t, n.dir, dk)
	decrypted := map[string][]byte{}
	for i, v := range vals {
		decrypted[string(keys[i])+"#"+string(rune(i))] = v
	}
	for _, needle := range [][]byte{[]byte(doomed), soonKey} {
		if where := findIn(decrypted, needle); len(where) > 0 {
			t.Errorf("Badger opened with the data key holds the destroyed content or key at %d values", len(where))
		}
	}
	fileKeys := keysInKeyFile(t, n.dir, dk)
	for _, k := range fileKeys {
		if bytes.Equal(k, soonKey) {
			t.Error("the key file still yields the destroyed key")
		}
	}
	got = tryOpen(vals, keys, fileKeys)
	if containsString(got, doomed) {
		t.Error("the deleted message still opens with a key from the key file")
	}
	if !containsString(got, kept) {
		t.Error("the live message does not open with the key file's keys: the scan is blind")
	}
	// The sealed bytes of the deleted message are still in Badger (not compacted): the
	// destruction, not the deletion, is what made them unreadable.
	stillThere := false
	for _, v := range vals {
		if b, err := BucketOf(v); err == nil && b == soon {
			stillThere = true
		}
	}
	if !stillThere {
		t.Log("Badger had already dropped the deleted value (compaction); the key check above still holds")
	}
}

func containsString(list [][]byte, s string) bool {
	for _, b := range list {
		if string(b) == s {
			return true
		}
	}
	return false
}

// TestRestartKeepsKeys: keys, counts and content survive a restart; content under a
// destroyed key is ErrShredded after one too.
func TestRestartKeepsKeys(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	var buckets []Bucket
	for i := range 5 {
		b, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(time.Duration(i+1)*2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		buckets = append(buckets, b)
		n.put(t, b, "msg/"+string(rune('a'+i)), "text "+string(rune('a'+i)))
	}
	if err := n.kr.Destroy(ctx, buckets[2]); err != nil {
		t.Fatal(err)
	}
	n.restart(t)
	for i := range 5 {
		v, err := n.get("msg/" + string(rune('a'+i)))
		if i == 2 {
			if !errors.Is(err, ErrShredded) {
				t.Errorf("content under the destroyed key: %q, %v; want ErrShredded", v, err)
			}
			continue
		}
		if err != nil || v != "text "+string(rune('a'+i)) {
			t.Errorf("msg %d after restart: %q, %v", i, v, err)
		}
		if refs, ok := n.refs(t, buckets[i]); !ok || refs != 1 {
			t.Errorf("bucket %d after restart: refs %d, exists %v", i, refs, ok)
		}
	}
	// A new bucket reuses the destroyed one's slot, and the file did not grow.
	before, _ := os.Stat(filepath.Join(n.dir, keyFileName))
	if _, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(20*time.Hour)); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(n.dir, keyFileName))
	if before.Size() != after.Size() || before.Size() != int64(headerSize+5*slotSize) {
		t.Errorf("key file %d → %d bytes, want %d (slot reused)", before.Size(), after.Size(), headerSize+5*slotSize)
	}
}

// TestPendingResealedWhenRead: unread content waits under a Pending key; reading it
// reseals it under the Expiry bucket of its expiry; the Pending key is destroyed once
// empty and past its grace (not before, and not while anything is under it), and the
// Expiry key when its window ends.
func TestPendingResealedWhenRead(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	pend, err := n.kr.PendingBucket(ctx, n.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	n.put(t, pend, "msg/read", "read later")
	n.put(t, pend, "msg/unread", "never read")
	n.clk.advance(3 * time.Hour) // pending window and grace over, but two items under it
	if d, _ := n.kr.Sweep(ctx, n.clk.Now()); len(d) != 0 {
		t.Fatalf("a Pending key with content under it was destroyed: %v", d)
	}
	// msg/read is read now: its 1-day timer starts.
	exp, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	reseal(t, n, "msg/read", exp)
	if refs, _ := n.refs(t, pend); refs != 1 {
		t.Fatalf("pending refs after one reseal = %d", refs)
	}
	if d, _ := n.kr.Sweep(ctx, n.clk.Now()); len(d) != 0 {
		t.Fatalf("destroyed %v with an unread item left", d)
	}
	reseal(t, n, "msg/unread", exp) // read too
	d, err := n.kr.Sweep(ctx, n.clk.Now())
	if err != nil || len(d) != 1 || d[0] != pend {
		t.Fatalf("Sweep = %v, %v; want the empty pending bucket", d, err)
	}
	for _, k := range []string{"msg/read", "msg/unread"} {
		if _, err := n.get(k); err != nil {
			t.Fatalf("%s after its pending key went: %v", k, err)
		}
	}
	n.clk.advance(25 * time.Hour)
	if _, err := n.kr.Sweep(ctx, n.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.get("msg/read"); !errors.Is(err, ErrShredded) {
		t.Fatalf("after expiry: %v, want ErrShredded", err)
	}
}

func reseal(t *testing.T, n *node, key string, to Bucket) {
	t.Helper()
	err := n.st.Update(context.Background(), func(tx *store.Tx) error {
		old, err := tx.Get([]byte(key))
		if err != nil {
			return err
		}
		nv, err := n.kr.Reseal(tx, old, []byte(key), to)
		if err != nil {
			return err
		}
		return tx.Set([]byte(key), nv)
	})
	if err != nil {
		t.Fatalf("reseal %s: %v", key, err)
	}
}

// TestCrashBetweenResealAndDestroy: the reseal commits and the process dies before any
// sweep; at the next start the empty Pending key is destroyed and the resealed content
// opens. And a crash after a destroy deleted the record but before it overwrote the slot
// (reproduced by deleting the record as the destroy's first step does): the next Open
// overwrites the slot.
func TestCrashBetweenResealAndDestroy(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	pend, _ := n.kr.PendingBucket(ctx, n.clk.Now())
	n.put(t, pend, "msg/1", "live content")
	n.clk.advance(3 * time.Hour)
	exp, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	reseal(t, n, "msg/1", exp)
	pendKey := n.bucketKeyBytes(t, pend)
	n.restart(t) // Open sweeps
	if _, ok := n.refs(t, pend); ok {
		t.Fatal("the empty Pending bucket survived the restart")
	}
	if v, err := n.get("msg/1"); err != nil || v != "live content" {
		t.Fatalf("resealed content after restart: %q, %v", v, err)
	}
	n.close()
	for _, k := range keysInKeyFile(t, n.dir, dataKey(t, n.dir)) {
		if bytes.Equal(k, pendKey) {
			t.Fatal("the destroyed Pending key is still in the key file")
		}
	}

	// Half a destroy: the record is gone, the slot not yet overwritten.
	n.restart(t)
	expKey := n.bucketKeyBytes(t, exp)
	if err := n.st.Update(ctx, func(tx *store.Tx) error { return tx.Delete(recordKey(exp)) }); err != nil {
		t.Fatal(err)
	}
	n.close()
	if !hasKey(keysInKeyFile(t, n.dir, dataKey(t, n.dir)), expKey) {
		t.Fatal("setup: the slot should still hold the key")
	}
	n.restart(t)
	n.close()
	if hasKey(keysInKeyFile(t, n.dir, dataKey(t, n.dir)), expKey) {
		t.Fatal("Open left a key without a record in the key file")
	}
}

func hasKey(keys [][]byte, k []byte) bool {
	for _, x := range keys {
		if bytes.Equal(x, k) {
			return true
		}
	}
	return false
}

// TestDamagedKeyFile: a truncated key file, or a slot with a flipped bit, costs only the
// keys it damaged, with a clear error naming the file; the other keys open; a damaged
// slot is not reused. A malformed header refuses to open and changes nothing.
func TestDamagedKeyFile(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	var bs []Bucket
	for i := range 3 {
		b, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(time.Duration(i+1)*2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
		n.put(t, b, "msg/"+string(rune('0'+i)), "m"+string(rune('0'+i)))
	}
	n.close()
	path := filepath.Join(n.dir, keyFileName)
	raw, _ := os.ReadFile(path)
	// Flip a bit in slot 0; cut slot 2 in half.
	raw[headerSize+40] ^= 1
	raw = raw[:headerSize+2*slotSize+slotSize/2]
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	n.restart(t)
	for i, want := range []error{ErrKeyDamaged, nil, ErrKeyDamaged} {
		v, err := n.get("msg/" + string(rune('0'+i)))
		if !errors.Is(err, want) || (want == nil && v != "m"+string(rune('0'+i))) {
			t.Errorf("msg %d: %q, %v; want %v", i, v, err, want)
		}
		if want != nil && (err == nil || !strings.Contains(err.Error(), path)) {
			t.Errorf("the error does not name the key file: %v", err)
		}
	}
	if d := n.kr.Damaged(); len(d) != 2 || !slices.Contains(d, bs[0]) || !slices.Contains(d, bs[2]) {
		t.Errorf("Damaged() = %v, want %v and %v", d, bs[0], bs[2])
	}
	nb, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(30*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	n.put(t, nb, "msg/new", "new")
	if slot := n.kr.keys[nb].slot; slot < 3 {
		t.Errorf("the new key took slot %d, a damaged bucket's", slot)
	}
	n.restart(t)
	if v, err := n.get("msg/1"); err != nil || v != "m1" {
		t.Errorf("undamaged key after another restart: %q, %v", v, err)
	}
	if v, err := n.get("msg/new"); err != nil || v != "new" {
		t.Errorf("new key after restart: %q, %v", v, err)
	}
	n.close()

	for name, edit := range map[string]func([]byte) []byte{
		"bad magic":   func(b []byte) []byte { b[0] ^= 1; return b },
		"new version": func(b []byte) []byte { b[8] = 2; return b },
		"truncated":   func(b []byte) []byte { return b[:5] },
	} {
		orig, _ := os.ReadFile(path)
		bad := edit(bytes.Clone(orig))
		os.WriteFile(path, bad, 0o600)
		st, err := store.Open(n.dir, testPass, store.Options{GCInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Open(ctx, st, n.opts())
		st.Close()
		if !errors.Is(err, ErrCorruptFile) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Open = %v, want ErrCorruptFile naming the file", name, err)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, bad) {
			t.Errorf("%s: Open modified the malformed file", name)
		}
		os.WriteFile(path, orig, 0o600)
	}
}

// TestSealBinding: content opens only with the ad it was sealed with, a flipped bit is
// ErrTampered, a bucket that does not exist cannot be sealed under, and an expiry whose
// window has passed gets no bucket.
func TestSealBinding(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	b, _ := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(time.Hour))
	n.put(t, b, "msg/1", "hello")
	var sealed []byte
	n.st.View(func(tx *store.Tx) error { sealed, _ = tx.Get([]byte("msg/1")); return nil })
	if _, err := n.kr.Open(sealed, []byte("msg/2")); !errors.Is(err, ErrTampered) {
		t.Errorf("moved to another key: %v", err)
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	if _, err := n.kr.Open(bad, []byte("msg/1")); !errors.Is(err, ErrTampered) {
		t.Errorf("flipped bit: %v", err)
	}
	if _, err := n.kr.Open(sealed[:20], []byte("msg/1")); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}
	ghost := Bucket{kind: Expiry, start: b.start + 7*3600*1000}
	err := n.st.Update(ctx, func(tx *store.Tx) error { _, err := n.kr.Seal(tx, ghost, nil, []byte("x")); return err })
	if !errors.Is(err, ErrNoBucket) {
		t.Errorf("Seal under a bucket never created: %v", err)
	}
	if _, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(-2*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("ExpiryBucket in the past: %v", err)
	}
}

// TestWindowFixedAtCreation: reopening with another window keeps the first one, so no
// content is sealed under a bucket that ends before it expires.
func TestWindowFixedAtCreation(t *testing.T) {
	n := newNode(t)
	ctx := context.Background()
	b1, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	n.close()
	var err2 error
	if n.st, err2 = store.Open(n.dir, testPass, store.Options{GCInterval: -1}); err2 != nil {
		t.Fatal(err2)
	}
	if n.kr, err2 = Open(ctx, n.st, Options{Now: n.clk.Now, Window: 4 * time.Hour}); err2 != nil {
		t.Fatal(err2)
	}
	b2, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(90*time.Minute))
	if err != nil || b2 != b1 {
		t.Fatalf("after reopening with a 4 h window: %v, %v; want %v", b2, err, b1)
	}
	b3, err := n.kr.ExpiryBucket(ctx, n.clk.Now().Add(150*time.Minute))
	if err != nil || b3.Start().Sub(b1.Start()) != time.Hour {
		t.Fatalf("the next bucket starts %v after, want 1h (%v)", b3.Start().Sub(b1.Start()), err)
	}
}
