package shredkeys

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/store"
)

const sigkillChildEnv = "PETREL_SHREDKEYS_SIGKILL_CHILD_DIR"

var sigkillStart = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

const (
	sigkillWindow = 10 * time.Minute
	sigkillStep   = 7 * time.Minute
	sigkillTimer  = 20 * time.Minute
)

// TestSIGKILLChild is the child half of TestSIGKILLKeepsLiveContentAndNoOrphanKeys: it
// receives a message per step (Pending), reads the previous one (Reseal under Expiry with a
// 20-minute timer) and sweeps, its clock moving 7 minutes a step, printing each step only
// after it is durable.
func TestSIGKILLChild(t *testing.T) {
	dir := os.Getenv(sigkillChildEnv)
	if dir == "" {
		t.Skip("child process of TestSIGKILLKeepsLiveContentAndNoOrphanKeys")
	}
	fail := func(what string, err error) {
		fmt.Println("error:", what, err)
		os.Exit(3)
	}
	st, err := store.Open(dir, testPass, store.Options{GCInterval: -1})
	if err != nil {
		fail("open store", err)
	}
	clk := &clock{now: sigkillStart}
	kr, err := Open(context.Background(), st, Options{Window: sigkillWindow, Now: clk.Now})
	if err != nil {
		fail("open keyring", err)
	}
	n := &node{dir: dir, st: st, kr: kr, clk: clk}
	ctx := context.Background()
	for i := 0; ; i++ {
		clk.advance(sigkillStep)
		now := clk.Now()
		fmt.Println("now", now.UnixMilli())
		pend, err := kr.PendingBucket(ctx, now)
		if err != nil {
			fail("pending bucket", err)
		}
		key := fmt.Sprintf("msg/%06d", i)
		if err := putErr(n, pend, key, "content of "+key); err != nil {
			fail("put", err)
		}
		fmt.Println("put", key)
		if i > 0 {
			prev := fmt.Sprintf("msg/%06d", i-1)
			exp := now.Add(sigkillTimer)
			b, err := kr.ExpiryBucket(ctx, exp)
			if err != nil {
				fail("expiry bucket", err)
			}
			if err := resealErr(n, prev, b); err != nil {
				fail("reseal", err)
			}
			fmt.Println("reseal", prev, b.start+sigkillWindow.Milliseconds())
		}
		if _, err := kr.Sweep(ctx, now); err != nil {
			fail("sweep", err)
		}
	}
}

func putErr(n *node, b Bucket, key, plaintext string) error {
	return n.st.Update(context.Background(), func(tx *store.Tx) error {
		sealed, err := n.kr.Seal(tx, b, []byte(key), []byte(plaintext))
		if err != nil {
			return err
		}
		return tx.Set([]byte(key), sealed)
	})
}

func resealErr(n *node, key string, to Bucket) error {
	return n.st.Update(context.Background(), func(tx *store.Tx) error {
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
}

// TestSIGKILLKeepsLiveContentAndNoOrphanKeys: a process receiving, reading and sweeping is
// killed at an arbitrary point; after the restart every message it stored opens unless
// its expiry window has passed (then it is ErrShredded), and the key file holds exactly
// the keys the store has records for (no key outlives its bucket).
func TestSIGKILLKeepsLiveContentAndNoOrphanKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	st, err := store.Create(dir, testPass, store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), sigkillChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lastNow int64
	pending := map[string]bool{}
	windowEnd := map[string]int64{}
	const target = 400 // lines: about 130 steps, the kill lands anywhere in one
	lines := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "now":
			lastNow, _ = strconv.ParseInt(f[1], 10, 64)
		case len(f) == 2 && f[0] == "put":
			pending[f[1]] = true
		case len(f) == 3 && f[0] == "reseal":
			delete(pending, f[1])
			windowEnd[f[1]], _ = strconv.ParseInt(f[2], 10, 64)
		case len(f) == 0:
		default:
			t.Errorf("child: %s", sc.Text())
		}
		if lines++; lines == target {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	for sc.Scan() {
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}
	if len(windowEnd) < 50 {
		t.Fatalf("child resealed only %d messages", len(windowEnd))
	}

	n := &node{dir: dir, clk: &clock{now: time.UnixMilli(lastNow)}}
	if n.st, err = store.Open(dir, testPass, store.Options{GCInterval: -1}); err != nil {
		t.Fatal(err)
	}
	if n.kr, err = Open(context.Background(), n.st, Options{Window: sigkillWindow, Now: n.clk.Now}); err != nil {
		t.Fatal(err)
	}
	defer n.close()
	shredded, live := 0, 0
	for key := range pending {
		if v, err := n.get(key); err != nil || v != "content of "+key {
			t.Errorf("unread %s after SIGKILL: %q, %v", key, v, err)
		}
	}
	for key, end := range windowEnd {
		v, err := n.get(key)
		switch {
		case end <= lastNow:
			if !errors.Is(err, ErrShredded) {
				t.Errorf("%s, expired at %d ≤ %d: %q, %v; want ErrShredded", key, end, lastNow, v, err)
			}
			shredded++
		default:
			if err != nil || v != "content of "+key {
				t.Errorf("%s, alive until %d > %d: %q, %v", key, end, lastNow, v, err)
			}
			live++
		}
	}
	var records int
	if err := n.st.View(func(tx *store.Tx) error {
		recs, err := allRecords(tx)
		records = len(recs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if d := n.kr.Damaged(); len(d) > 0 {
		t.Errorf("damaged after SIGKILL: %v", d)
	}
	n.kr.Close()
	n.kr = nil
	if keys := keysInKeyFile(t, dir, dataKey(t, dir)); len(keys) != records {
		t.Errorf("the key file holds %d keys for %d bucket records", len(keys), records)
	}
	t.Logf("after SIGKILL: %d unread, %d live, %d shredded messages; %d buckets", len(pending), live, shredded, records)
}
