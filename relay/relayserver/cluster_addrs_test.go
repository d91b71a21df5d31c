package relayserver_test

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/relay/clusterstore"
	"github.com/petrel-chat/petrel/relay/relayserver"
)

// TestClusterInfoListsEveryProcess: three relay processes of one cluster sharing relay.key
// (one relay peer to nodes) each report, in what becomes relay.json, its own addresses
// first and then the other two processes'; a node dialling an address learnt from one
// process reaches another.
func TestClusterInfoListsEveryProcess(t *testing.T) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := crypto.MarshalPrivateKey(k)
	routes := make([]string, 3)
	for i := range routes {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes[i] = l.Addr().String()
		l.Close()
	}
	infos := make([]relayserver.Info, 3)
	servers := make([]*relayserver.Server, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "relay.key"), kb, 0o600); err != nil {
			t.Fatal(err)
		}
		var others []string
		for j, a := range routes {
			if j != i {
				others = append(others, a)
			}
		}
		cfg := testConfig()
		cfg.Cluster = &clusterstore.Config{Name: "addrs", Listen: routes[i], Routes: others, Replicas: 3}
		wg.Go(func() {
			s, err := relayserver.New(cfg, relayserver.Options{DataDir: dir, ClusterWait: 2 * time.Minute})
			if err != nil {
				t.Error(err)
				return
			}
			servers[i] = s
			ctx, cancel := context.WithCancel(context.Background())
			ready := make(chan relayserver.Info, 1)
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx, func(info relayserver.Info) { ready <- info }) }()
			t.Cleanup(func() { cancel(); <-done })
			select {
			case infos[i] = <-ready:
			case err := <-done:
				t.Errorf("relay %d exited: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	own := func(s *relayserver.Server) string {
		return s.Host().Addrs()[0].String() + "/p2p/" + s.Host().ID().String()
	}
	for i, info := range infos {
		if len(info.Addrs) != 3 || info.Addrs[0] != own(servers[i]) {
			t.Fatalf("process %d's info lists %v; want its own address first and the others'", i, info.Addrs)
		}
		for j, s := range servers {
			found := false
			for _, a := range info.Addrs {
				found = found || a == own(s)
			}
			if !found {
				t.Errorf("process %d's info lacks process %d's address", i, j)
			}
		}
	}
	// An address process 0 lists for process 2 reaches process 2.
	h := newNode(t, nil)
	ai, err := peer.AddrInfoFromString(own(servers[2]))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(context.Background(), *ai); err != nil {
		t.Fatal(err)
	}
}
