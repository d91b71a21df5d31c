package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const sigkillChildEnv = "PETREL_STORE_SIGKILL_CHILD_DIR"

// TestSIGKILLChild is the child half of TestSIGKILLKeepsAcknowledgedWrites: with the env
// var set, it opens the store and writes from 8 goroutines forever, printing each key on
// stdout only after its Update returned.
func TestSIGKILLChild(t *testing.T) {
	dir := os.Getenv(sigkillChildEnv)
	if dir == "" {
		t.Skip("child process of TestSIGKILLKeepsAcknowledgedWrites")
	}
	s, err := Open(dir, testPass, Options{})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(3)
	}
	var mu sync.Mutex // one line per write(2)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				k := fmt.Sprintf("ack/%d/%06d", w, i)
				err := s.Update(context.Background(), func(tx *Tx) error {
					return tx.Set([]byte(k), []byte("value of "+k))
				})
				if err != nil {
					fmt.Println("update error:", err)
					os.Exit(4)
				}
				mu.Lock()
				os.Stdout.WriteString(k + "\n")
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// Every Update acknowledged before a SIGKILL is in the store after reopening: the
// process is killed mid-stream, with group commits in flight.
func TestSIGKILLKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	s, dir := newTestStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
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
	const target = 1500
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "ack/") {
			t.Errorf("child: %s", line)
			continue
		}
		acked = append(acked, line)
		if len(acked) == target {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	// Keys acknowledged between our count and the kill must survive too.
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "ack/") {
			acked = append(acked, line)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v", err)
	}
	if len(acked) < target {
		t.Fatalf("child acknowledged only %d writes", len(acked))
	}

	s2, err := Open(dir, testPass, Options{})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s2.Close()
	missing := 0
	s2.View(func(tx *Tx) error {
		for _, k := range acked {
			v, err := tx.Get([]byte(k))
			if err != nil || string(v) != "value of "+k {
				if missing++; missing <= 5 {
					t.Errorf("acknowledged %s: %q, %v", k, v, err)
				}
			}
		}
		return nil
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(acked))
	}
	t.Logf("%d acknowledged writes survived SIGKILL", len(acked))
}
