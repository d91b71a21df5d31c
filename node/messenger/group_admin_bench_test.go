package messenger

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

// largeMessenger is a Messenger on its own store in dir with n accepted contacts known by
// identity only (fresh identities, peer ids that no node answers to): what the group
// code needs of members to put them in a group. Returns the contacts' user ids.
func largeMessenger(tb testing.TB, dir string, n int) (*Messenger, []string) {
	tb.Helper()
	st, err := store.Create(dir, []byte("test passphrase"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ev, err := eventlog.Open(st)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := identity.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	m, err := New(context.Background(), Config{Store: st, Events: ev, Identity: id, Profile: func() string { return "me" }})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	m.host = h
	uids := make([]string, 0, n)
	for len(uids) < n {
		err := st.Update(context.Background(), func(tx *store.Tx) error {
			for range min(50, n-len(uids)) {
				pub, err := identity.Generate()
				if err != nil {
					return err
				}
				c, _, err := m.contactFor(tx, pub.Public(), fmt.Sprintf("12D3KooWfake%06d", len(uids)), api.RequestAccepted)
				if err != nil {
					return err
				}
				c.Name = fmt.Sprintf("member %d", len(uids))
				c.Addrs = []string{"/ip4/192.0.2.1/tcp/4001", "/ip6/2001:db8::1/tcp/4001"}
				if err := sessions.SaveContact(tx, c); err != nil {
					return err
				}
				uids = append(uids, c.UserID)
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return m, uids
}

// diskBytes is the space the files under dir take on disk (allocated blocks, so that
// Badger's preallocated, still-empty files count for what they hold).
func diskBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// peakRSS resets the process's peak resident set size (Linux: clear_refs 5) and returns
// the resident size then and a function that reads the peak since then (VmHWM), in bytes.
func peakRSS(tb testing.TB) (int64, func() int64) {
	tb.Helper()
	runtime.GC()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Fatalf("resetting the peak RSS (needs Linux /proc): %v", err)
	}
	return procStatus(tb, "VmRSS:"), func() int64 { return procStatus(tb, "VmHWM:") }
}

// procStatus reads a size field of /proc/self/status, in bytes.
func procStatus(tb testing.TB, field string) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// BenchmarkGroupAdmin measures one admin operation on a group of n members (the creator
// and n-1 contacts): the store's growth on disk, the process's peak RSS during it (and its
// RSS just before: the store, a libp2p host and what setting up n-1 contacts left) and
// the time, which includes serving what members are owed (settleFanout). Run each case in
// its own process for the peak: -bench 'GroupAdmin/create/1000$' -benchtime=1x.
//   - create: a group of n;
//   - add: one member to a group of n-1;
//   - remove: one member from a group of n (which rotates the sender key).
//
// The members' nodes are not running: what the operation queues for them stays queued,
// as it does for members who are offline.
func BenchmarkGroupAdmin(b *testing.B) {
	for _, n := range []int{100, 500, 1000} {
		for _, op := range []string{"create", "add", "remove"} {
			b.Run(fmt.Sprintf("%s/%d", op, n), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					dir := b.TempDir()
					m, uids := largeMessenger(b, dir, n-1)
					ctx := context.Background()
					var gid string
					if op != "create" {
						members := uids
						if op == "add" {
							members = uids[:n-2]
						}
						cv, err := m.CreateGroup(ctx, "big", members)
						if err != nil {
							b.Fatal(err)
						}
						gid = cv.ID
						m.settleFanout(b)
					}
					before := diskBytes(b, dir)
					base, peak := peakRSS(b)
					start := time.Now()
					b.StartTimer()
					var err error
					switch op {
					case "create":
						_, err = m.CreateGroup(ctx, "big", uids)
					case "add":
						_, err = m.ChangeMembers(ctx, gid, uids[n-2:], nil)
					case "remove":
						_, err = m.ChangeMembers(ctx, gid, nil, uids[:1])
					}
					if err != nil {
						b.Fatal(err)
					}
					m.settleFanout(b)
					b.StopTimer()
					took := time.Since(start)
					b.ReportMetric(float64(diskBytes(b, dir)-before)/(1<<20), "store-MB")
					b.ReportMetric(float64(peak())/(1<<20), "peakRSS-MB")
					b.ReportMetric(float64(base)/(1<<20), "startRSS-MB")
					b.ReportMetric(float64(took.Milliseconds()), "ms")
				}
			})
		}
	}
}
