package clusterstore

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// FuzzParseRecords: the record decoders never panic on any bytes the engine hands back,
// and a parsed mail record's parts lie within its bytes.
func FuzzParseRecords(f *testing.F) {
	plain := binary.BigEndian.AppendUint64(nil, 1)
	plain = binary.BigEndian.AppendUint64(plain, 2)
	f.Add(append(plain, 1, 2, 3))
	shared := binary.BigEndian.AppendUint64(append(append([]byte(nil), plain...), relaystore.SharedMark), 7)
	shared = binary.BigEndian.AppendUint32(shared, 100)
	f.Add(append(shared, 9))
	f.Add(usage{3, 4}.marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := relaystore.ParseMailRecord(b); err == nil {
			if len(r.Envelope) == 0 || len(r.Envelope) > len(b) {
				t.Fatalf("envelope of %d bytes from a record of %d", len(r.Envelope), len(b))
			}
			_ = r.Charged()
		}
		parseUsage(b)
	})
}

// TestOneTimePrekeysHandedOutOnceAcrossProcesses: bundle requests at three processes at
// once hand out each uploaded one-time prekey exactly once, then the last-resort key.
func TestOneTimePrekeysHandedOutOnceAcrossProcesses(t *testing.T) {
	ms := startCluster(t, 3)
	id, mb := newOwner(t, ms[0].store)
	ps, err := prekey.NewStore(id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	up := &relaywire.Upload{SignedPrekey: ps.SignedPrekey(), LastResort: ps.LastResortPrekey(),
		OneTime: ps.OneTimePrekeys()[:3], PQOneTime: ps.PQOneTimePrekeys()[:2]}
	rem, err := ms[1].store.PutPrekeys(ctx, mb, up, 100)
	if err != nil || rem != (relaystore.Remaining{OneTime: 3, PQOneTime: 2}) {
		t.Fatalf("put: %+v %v", rem, err)
	}
	var wg sync.WaitGroup
	bundles := make([]*prekey.Bundle, 6)
	for i := range bundles {
		wg.Go(func() {
			b, err := ms[i%3].store.TakeBundle(ctx, mb)
			if err != nil {
				t.Error(err)
			}
			bundles[i] = b
		})
	}
	wg.Wait()
	opks, pqs := map[uint32]int{}, map[uint32]int{}
	lastResort := 0
	for _, b := range bundles {
		if b == nil {
			t.FailNow()
		}
		if k, ok := b.OneTimePrekey(); ok {
			opks[k.ID()]++
		}
		if b.PQPrekey().Kind() == prekey.LastResort {
			lastResort++
		} else {
			pqs[b.PQPrekey().ID()]++
		}
	}
	if len(opks) != 3 || len(pqs) != 2 || lastResort != 4 {
		t.Errorf("one-time %v, PQ one-time %v, last resort %d", opks, pqs, lastResort)
	}
	for id, n := range opks {
		if n != 1 {
			t.Errorf("one-time prekey %d handed out %d times", id, n)
		}
	}
	if rem, _ := ms[2].store.PrekeyCount(mb); rem != (relaystore.Remaining{}) {
		t.Errorf("remaining %+v", rem)
	}
}
