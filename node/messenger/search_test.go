package messenger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
)

// searchMessenger is a messenger on a real encrypted store in a temp dir, no host.
func searchMessenger(tb testing.TB) *Messenger {
	tb.Helper()
	st, err := store.Create(tb.TempDir(), []byte("test passphrase search"), store.Options{})
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
	m, err := New(context.Background(), Config{Store: st, Events: ev, Identity: id})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

var searchWords = strings.Fields(`hello world petrel message river mountain coffee tomorrow
	meeting lunch dinner train station ticket holiday beach winter summer garden flower
	kitchen window music guitar piano concert friday monday weekend birthday present
	picture camera phone laptop server network packet router cable battery charger`)

// searchCorpus writes n messages over convs conversations through the store and the event
// log, as a node writes them (a message record, its history index, its event), and
// returns them.
func searchCorpus(tb testing.TB, m *Messenger, n, convs int, seed uint64) []api.Message {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 1))
	ids := make([]string, convs)
	for i := range ids {
		ids[i] = fmt.Sprintf("conv%02d", i)
	}
	if err := m.st.Update(ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			if err := history.PutConversation(tx, &history.Conversation{ID: id, Type: api.ConversationDirect}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	var out []api.Message
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() + int64(seed)*1e9
	for start := 0; start < n; start += 250 {
		var batch []api.Message
		for i := start; i < min(start+250, n); i++ {
			words := make([]string, 3+rng.IntN(10))
			for j := range words {
				w := searchWords[rng.IntN(len(searchWords))]
				if rng.IntN(7) == 0 {
					w = strings.ToUpper(w[:1]) + w[1:]
				}
				words[j] = w
			}
			if rng.IntN(5000) == 0 {
				words = append(words, "Zanzibar")
			}
			batch = append(batch, api.Message{
				ID: fmt.Sprintf("m%d-%07d-%04x", seed, i, rng.IntN(1<<16)), ConversationID: ids[rng.IntN(convs)],
				Order: fmt.Sprintf("%013d.%04d-u", base+int64(i)*1000, i%10000), Body: strings.Join(words, " "),
				Status: api.StatusDelivered, SentAt: base + int64(i)*1000,
			})
		}
		if err := m.st.Update(ctx, func(tx *store.Tx) error {
			for i := range batch {
				if err := m.putMsg(tx, &history.Item{M: batch[i]}, true); err != nil {
					return err
				}
				if _, err := m.ev.Append(tx, api.KindMessage, batch[i]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			tb.Fatal(err)
		}
		out = append(out, batch...)
	}
	return out
}

// updateMessages rewrites msgs as a node does for an edit or a delete: the record and a
// message_update event.
func updateMessages(t *testing.T, m *Messenger, msgs []api.Message) {
	t.Helper()
	if err := m.st.Update(context.Background(), func(tx *store.Tx) error {
		for i := range msgs {
			if err := m.putMsg(tx, &history.Item{M: msgs[i]}, false); err != nil {
				return err
			}
			if _, err := m.ev.Append(tx, api.KindMessageUpdate, msgs[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func msgIDs(ms []api.Message) []string {
	out := make([]string, len(ms))
	for i, x := range ms {
		out[i] = x.ID
	}
	return out
}

// sameAsScan checks the indexed Search against a scan of every record, for queries that
// are words, parts of words, several words, in any case, in one conversation and all.
func sameAsScan(t *testing.T, m *Messenger, when string) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{"hello", "ELL", "o", "river moun", "Zanzibar", "edited-word", "nothing-like-this", "Friday Concert"} {
		for _, conv := range []string{"", "conv01"} {
			for _, limit := range []int{0, 7, MaxSearchPage} {
				got, err := m.Search(ctx, q, conv, limit)
				if err != nil {
					t.Fatalf("%s: search %q: %v", when, q, err)
				}
				l, _ := history.PageLimit(limit, MaxSearchPage)
				want, err := m.searchScan(q, conv, l)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(msgIDs(got), msgIDs(want)) {
					t.Fatalf("%s: search %q in %q (limit %d): index gave %d results %v…, the scan %d %v…",
						when, q, conv, limit, len(got), msgIDs(got)[:min(3, len(got))], len(want), msgIDs(want)[:min(3, len(want))])
				}
			}
		}
	}
}

// The index answers exactly as the scan of every message does, after new messages, edits
// and deletes, and after it is lost and rebuilt; its keys name no word of any message.
func TestSearchIndexAnswersAsTheScan(t *testing.T) {
	ctx := context.Background()
	m := searchMessenger(t)
	msgs := searchCorpus(t, m, 3000, 3, 1)
	sameAsScan(t, m, "first search (index built)")

	// Edits and deletes for everyone, then new messages.
	var changed []api.Message
	for i := 0; i < len(msgs); i += 37 {
		x := msgs[i]
		if i%2 == 0 {
			x.Body = "edited-word and hello again"
		} else {
			x.Body, x.Deleted = "", true
		}
		changed = append(changed, x)
	}
	updateMessages(t, m, changed)
	searchCorpus(t, m, 700, 3, 2)
	sameAsScan(t, m, "after edits, deletes and new messages")

	// A status change (a receipt) does not change what is found.
	st := msgs[5]
	st.Status = api.StatusRead
	updateMessages(t, m, []api.Message{st})
	sameAsScan(t, m, "after a receipt")

	// The index lost (an older version, say): the next search rebuilds it.
	if err := m.st.Update(ctx, func(tx *store.Tx) error { return tx.Set(history.KeySearchMeta, []byte{0}) }); err != nil {
		t.Fatal(err)
	}
	sameAsScan(t, m, "after a rebuild")

	lower := map[string]bool{}
	for _, w := range append(searchWords, "zanzibar", "edited-word") {
		lower[w] = true
	}
	if err := m.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("sx/")}, func(k, _ []byte) (bool, error) {
			for w := range lower {
				if strings.Contains(strings.ToLower(string(k)), w) {
					return false, fmt.Errorf("index key %q names the word %q", k, w)
				}
			}
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}

	// Bad input: an empty query and an unknown conversation are refused, as before.
	if _, err := m.Search(ctx, "  ", "", 0); err == nil {
		t.Fatal("an empty query was accepted")
	}
	if _, err := m.Search(ctx, "hello", "no-such-conv", 0); err == nil {
		t.Fatal("a search in an unknown conversation was accepted")
	}
}

// BenchmarkSearch100k: search over 100,000 messages, beside a raw iteration of the
// message records (Badger and the record AEAD, no decoding) and the scan search did before
// the index.
//
//	go test -run '^$' -bench BenchmarkSearch100k -benchtime 20x ./node/messenger/
func BenchmarkSearch100k(b *testing.B) {
	ctx := context.Background()
	m := searchMessenger(b)
	searchCorpus(b, m, 100_000, 20, 7)
	start := time.Now()
	if _, err := m.Search(ctx, "warmup", "", 0); err != nil {
		b.Fatal(err)
	}
	b.Logf("index built by the first search in %v", time.Since(start))
	b.Run("baseline-raw-iteration", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := m.st.View(func(tx *store.Tx) error {
				return tx.Iterate(store.IterOptions{Prefix: []byte("ms/")}, func(_, v []byte) (bool, error) {
					n += len(v)
					return true, nil
				})
			}); err != nil || n == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan-before", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.searchScan("concert", "", 50); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, q := range []string{"zanzibar", "concert", "ert", "friday concert"} {
		b.Run("indexed-"+strings.ReplaceAll(q, " ", "_"), func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Search(ctx, q, "", 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("indexed-after-one-new-message", func(b *testing.B) {
		seq := 0
		for b.Loop() {
			b.StopTimer()
			seq++
			msg := api.Message{ID: fmt.Sprintf("new-%d", seq), ConversationID: "conv01", Order: fmt.Sprintf("9%012d", seq), Body: "a new concert"}
			if err := m.st.Update(ctx, func(tx *store.Tx) error {
				if err := m.putMsg(tx, &history.Item{M: msg}, true); err != nil {
					return err
				}
				_, err := m.ev.Append(tx, api.KindMessage, msg)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if got, err := m.Search(ctx, "concert", "", 50); err != nil || got[0].ID != msg.ID {
				b.Fatalf("the new message is not the first result: %v", err)
			}
		}
	})
	b.Run("indexed-in-one-conversation", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.Search(ctx, "concert", "conv03", 50); err != nil {
				b.Fatal(err)
			}
		}
	})
}
