package node_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	nodehistory "github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/storeformat"
)

// The release store fixture (testdata/store-v0.tar.gz, written by upgrade_gen_test.go with
// the code of the release before the store format version existed) is unlocked by
// nodetest.Passphrase.

// releaseStore unpacks the release store fixture into a fresh directory.
func releaseStore(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "store-v0.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// runDir runs the node in dir until the returned stop is called, and returns its client.
func runDir(t *testing.T, dir string) (*localclient.Client, func()) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	nd, err := node.Open(node.Config{DataDir: dir, APIAddr: "127.0.0.1:0", ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Logger: logger, Version: "test"}, []byte(nodetest.Passphrase))
	if err != nil {
		t.Fatalf("open the release store: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan node.APIInfo, 1)
	done := make(chan error, 1)
	go func() { done <- nd.Run(ctx, func(in node.APIInfo) { ready <- in }) }()
	var in node.APIInfo
	select {
	case in = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stop: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the node did not stop within 30 s")
		}
	}
	return localclient.New(in.URL, in.Token), stop
}

// wantView is the release's own view of its store (testdata/store-v0.json).
func wantView(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "store-v0.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Read as plain JSON, not into storeView: a field the release did not have must stay
	// absent, not become its zero value.
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// shows reports whether got, a JSON value, shows everything want does: the same value,
// where an object may have fields want lacks (the API is extended, never renamed: a field
// added since the release, such as GET /v1/me's device, is no difference), and an array
// the same number of elements, each showing want's.
func shows(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !shows(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !shows(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(got, want)
	}
}

// sameView fails t where got does not show what want does (shows), comparing their JSON
// forms.
func sameView(t *testing.T, what string, got storeView, w map[string]any) {
	t.Helper()
	norm := func(v storeView) map[string]any {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	g := norm(got)
	for k := range w {
		if !shows(g[k], w[k]) {
			gb, _ := json.MarshalIndent(g[k], "", " ")
			wb, _ := json.MarshalIndent(w[k], "", " ")
			t.Errorf("%s: %s differ:\ngot  %s\nwant %s", what, k, gb, wb)
		}
	}
}

// storeFormat reads the stopped node's store format version and what an upgrade of it
// would start from.
func storeFormat(t *testing.T, dir string) (version, from int) {
	t.Helper()
	st, err := store.Open(dir, []byte(nodetest.Passphrase), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.View(func(tx *store.Tx) error {
		version, err = store.FormatVersion(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if from, err = storeformat.Upgrade(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return version, from
}

// TestUpgradeFromRelease opens a store written by the release before the store format
// version (contacts, a direct conversation with sent, received, edited, reacted, deleted
// and read messages, a group, changed settings): the node upgrades it in place on start,
// and the local API shows every contact, conversation, message (order, status, edits,
// reactions, receipts, read marks), group member, setting and search result as the
// release showed them. A second start finds nothing to upgrade and shows the same.
func TestUpgradeFromRelease(t *testing.T) {
	t.Parallel()
	dir := releaseStore(t)
	if v, _ := storeFormatNoUpgrade(t, dir); v != 0 {
		t.Fatalf("the release store has format %d, want 0", v)
	}
	want := wantView(t)
	for run := 1; run <= 2; run++ {
		cl, stop := runDir(t, dir)
		got := viewOf(t, cl, fixtureQueries...)
		stop()
		sameView(t, fmt.Sprintf("start %d", run), got, want)
		v, from := storeFormat(t, dir)
		if v != storeformat.Version() || from != v {
			t.Fatalf("after start %d: format %d, an upgrade would start at %d; want both %d", run, v, from, storeformat.Version())
		}
	}
	checkRecordsVersioned(t, dir)
}

// storeFormatNoUpgrade reads the store format version of the stopped node in dir.
func storeFormatNoUpgrade(t *testing.T, dir string) (int, error) {
	t.Helper()
	st, err := store.Open(dir, []byte(nodetest.Passphrase), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var v int
	err = st.View(func(tx *store.Tx) error {
		v, err = store.FormatVersion(tx)
		return err
	})
	return v, err
}

// checkRecordsVersioned checks that every contact, conversation and message record of the
// stopped node in dir carries version 1 (a message record in its binary layout), and every contact has its delivery counters.
func checkRecordsVersioned(t *testing.T, dir string) {
	t.Helper()
	st, err := store.Open(dir, []byte(nodetest.Passphrase), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts := map[string]int{}
	if err := st.View(func(tx *store.Tx) error {
		for _, p := range []string{"ct/", "cv/", "ms/", "sc/"} {
			if err := tx.Iterate(store.IterOptions{Prefix: []byte(p)}, func(k, v []byte) (bool, error) {
				if p == "ms/" { // binary since format 2 (docs/PROTOCOL.md "Message records")
					var m nodehistory.Message
					if !nodehistory.IsBinaryMessage(v) || nodehistory.DecodeMessage(v, &m) != nil || m.V != 1 {
						return false, fmt.Errorf("record %s is not a binary message record of version 1: %q", k, v)
					}
					counts[p]++
					return true, nil
				}
				var r struct {
					V *int            `json:"v"`
					M json.RawMessage `json:"m"`
				}
				if err := json.Unmarshal(v, &r); err != nil {
					return false, err
				}
				if r.V == nil || *r.V != 1 || r.M != nil {
					return false, fmt.Errorf("record %s is not at version 1: %s", k, v)
				}
				counts[p]++
				return true, nil
			}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if counts["ct/"] == 0 || counts["ms/"] == 0 || counts["cv/"] == 0 || counts["sc/"] != counts["ct/"] {
		t.Fatalf("records after the upgrade: %v", counts)
	}
}

// TestNewerStoreFormatIsRefused: a store whose format version is newer than this petrel's
// does not open (store.ErrNewerFormat, saying to run a newer petrel), and is left as it was.
func TestNewerStoreFormatIsRefused(t *testing.T) {
	t.Parallel()
	dir := releaseStore(t)
	st, err := store.Open(dir, []byte(nodetest.Passphrase), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	newer := storeformat.Version() + 1
	if err := st.Update(context.Background(), func(tx *store.Tx) error { return store.SetFormatVersion(tx, newer) }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = node.Open(node.Config{DataDir: dir, APIAddr: "127.0.0.1:0"}, []byte(nodetest.Passphrase))
	if !errors.Is(err, store.ErrNewerFormat) {
		t.Fatalf("opening a store of format %d: %v, want store.ErrNewerFormat", newer, err)
	}
	if v, err := storeFormatNoUpgrade(t, dir); err != nil || v != newer {
		t.Fatalf("the refused store's format is now %d (%v), want %d", v, err, newer)
	}
	// Its records are those of the release, untouched: none was rewritten.
	st, err = store.Open(dir, []byte(nodetest.Passphrase), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("ms/")}, func(k, v []byte) (bool, error) {
			var r struct {
				V *int            `json:"v"`
				M json.RawMessage `json:"m"`
			}
			if err := json.Unmarshal(v, &r); err != nil {
				return false, err
			}
			if r.V != nil || r.M == nil {
				return false, fmt.Errorf("record %s was rewritten: %s", k, v)
			}
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}
