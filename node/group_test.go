package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/relay/relaytest"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// fast shortens the group and presence timers for tests.
func fast(fallback time.Duration) func(*node.Config) {
	return func(c *node.Config) {
		c.Groups.FallbackAfter = fallback
		c.Presence.Heartbeat = 150 * time.Millisecond
		c.Presence.Timeout = time.Second
		c.Presence.TypingTimeout = time.Second
	}
}

// startNodes starts n nodes in parallel.
func startNodes(t *testing.T, n int, configure func(*node.Config)) []*nodetest.Node {
	t.Helper()
	out := make([]*nodetest.Node, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 4) // each start derives a 64 MiB Argon2id key twice
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			nd := nodetest.StartWith(t, fmt.Sprintf("n%02d", i), configure)
			mu.Lock()
			out[i] = nd
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, nd := range out {
		if nd == nil {
			t.FailNow()
		}
	}
	return out
}

// makeGroup has nodes[0] befriend the others and create a group of all of them.
func makeGroup(t *testing.T, nodes []*nodetest.Node, name string) (string, []string) {
	t.Helper()
	uids := make([]string, len(nodes))
	for i, n := range nodes {
		uids[i] = nodetest.UserID(t, n)
	}
	for _, n := range nodes[1:] {
		nodetest.Befriend(t, nodes[0], n)
	}
	conv, err := nodes[0].Client.CreateGroup(context.Background(), name, uids[1:])
	if err != nil {
		t.Fatal(err)
	}
	if conv.Type != api.ConversationGroup || len(conv.Members) != len(nodes) || conv.Name != name {
		t.Fatalf("created %+v", conv)
	}
	waitMembers(t, nodes, conv.ID, uids)
	return conv.ID, uids
}

// waitMembers waits until every node sees the group with exactly members.
func waitMembers(t *testing.T, nodes []*nodetest.Node, gid string, members []string) {
	t.Helper()
	want := slices.Sorted(slices.Values(members))
	for _, n := range nodes {
		wait.For(t, n.Name+" sees the group's members", func() error {
			c, err := n.Client.Conversation(context.Background(), gid)
			if err != nil {
				return err
			}
			var got []string
			for _, m := range c.Members {
				got = append(got, m.UserID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("%d members, want %d", len(got), len(want))
			}
			return nil
		})
	}
}

// waitMessages waits until node n holds want messages in gid, and returns them in order.
func waitMessages(t *testing.T, n *nodetest.Node, gid string, want int) []api.Message {
	t.Helper()
	var ms []api.Message
	wait.For(t, n.Name+" receives the group's messages", func() error {
		ms = messages(t, n.Client, gid)
		if len(ms) != want {
			return fmt.Errorf("%d messages, want %d", len(ms), want)
		}
		return nil
	})
	return ms
}

func ids(ms []api.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func TestGroupOfTwentySeesEveryMessageOnceInOneOrder(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("20 nodes")
	}
	ctx := context.Background()
	start := time.Now()
	nodes := startNodes(t, 20, func(c *node.Config) { c.Groups.FallbackAfter = 5 * time.Second })
	t.Logf("20 nodes up in %v", time.Since(start))
	start = time.Now()
	gid, _ := makeGroup(t, nodes, "twenty")
	t.Logf("group of 20 set up on every node in %v", time.Since(start))
	start = time.Now()

	// Five members write at once, three messages each, plus the creator.
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for _, i := range []int{0, 3, 7, 12, 19} {
		wg.Go(func() {
			for k := range 3 {
				if _, err := nodes[i].Client.Send(ctx, gid, fmt.Sprintf("c%d-%d", i, k), fmt.Sprintf("hello from %d #%d", i, k)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("15 messages sent in %v", time.Since(start))
	const total = 15
	ref := waitMessages(t, nodes[0], gid, total)
	defer func() { t.Logf("every member holds every message %v after the first send", time.Since(start)) }()
	for _, n := range nodes[1:] {
		got := waitMessages(t, n, gid, total)
		if !slices.Equal(ids(got), ids(ref)) {
			t.Fatalf("%s orders the group differently:\n%v\n%v", n.Name, ids(got), ids(ref))
		}
		for i := range got {
			if got[i].Order != ref[i].Order || got[i].Body != ref[i].Body || got[i].SenderID != ref[i].SenderID {
				t.Fatalf("%s: message %d differs: %+v vs %+v", n.Name, i, got[i], ref[i])
			}
		}
	}
	// The creator's messages end delivered to all 19 others.
	u0 := nodetest.UserID(t, nodes[0])
	wait.For(t, "receipts from every member", func() error {
		for _, m := range messages(t, nodes[0].Client, gid) {
			if m.SenderID != u0 {
				continue
			}
			if m.Receipts.Total != 19 || m.Receipts.Delivered != 19 || m.Status != api.StatusDelivered {
				return fmt.Errorf("%s: %+v %s", m.Body, m.Receipts, m.Status)
			}
		}
		return nil
	})
}

func TestGroupAddRemoveRotatesKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startNodes(t, 4, fast(time.Second))
	a, b, c, d := nodes[0], nodes[1], nodes[2], nodes[3]
	gid, uids := makeGroup(t, nodes[:3], "rotation")
	nodetest.Befriend(t, a, d)
	nodetest.Befriend(t, b, d)
	ud := nodetest.UserID(t, d)

	if _, err := a.Client.Send(ctx, gid, "a1", "before anyone joined or left"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[:3] {
		waitMessages(t, n, gid, 1)
	}

	// A member who is not an admin cannot change the membership.
	var apiErr *localclient.APIError
	_, err := b.Client.ChangeMembers(ctx, gid, []string{ud}, nil)
	if !errors.As(err, &apiErr) || apiErr.Status != 403 || apiErr.Code != "forbidden" {
		t.Fatalf("non-admin add: %v", err)
	}
	if _, err := b.Client.RenameGroup(ctx, gid, "mine"); !errors.As(err, &apiErr) || apiErr.Status != 403 {
		t.Fatalf("non-admin rename: %v", err)
	}

	// D joins and reads nothing from before.
	if _, err := a.Client.ChangeMembers(ctx, gid, []string{ud}, nil); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes, gid, append(slices.Clone(uids), ud))
	if _, err := d.Client.Send(ctx, gid, "d1", "hi, I am new"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		want := 2
		if n == d {
			want = 1
		}
		got := waitMessages(t, n, gid, want)
		if got[len(got)-1].Body != "hi, I am new" {
			t.Fatalf("%s: %+v", n.Name, got)
		}
	}

	// C is removed: every remaining sender rotates; C reads nothing sent after.
	if _, err := a.Client.ChangeMembers(ctx, gid, nil, []string{uids[2]}); err != nil {
		t.Fatal(err)
	}
	rest := []*nodetest.Node{a, b, d}
	waitMembers(t, rest, gid, []string{uids[0], uids[1], ud})
	wait.For(t, "C learns it was removed", func() error {
		cv, err := c.Client.Conversation(ctx, gid)
		if err != nil {
			return err
		}
		if len(cv.Members) != 0 {
			return fmt.Errorf("C still sees %d members", len(cv.Members))
		}
		return nil
	})
	if _, err := c.Client.Send(ctx, gid, "c9", "can I still write?"); !errors.As(err, &apiErr) || apiErr.Status != 403 {
		t.Fatalf("removed member sending: %v", err)
	}
	for i, n := range rest {
		if _, err := n.Client.Send(ctx, gid, fmt.Sprintf("after%d", i), fmt.Sprintf("secret after removal %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitMessages(t, a, gid, 5)
	waitMessages(t, b, gid, 5)
	waitMessages(t, d, gid, 4)
	// Nothing is on its way to C once every message after the removal has been delivered
	// to each of the two other remaining members: no fallback deposit, no resend is due.
	for i, n := range rest {
		cmid := fmt.Sprintf("after%d", i)
		wait.For(t, n.Name+"'s "+cmid+" delivered to every remaining member", func() error {
			for _, m := range messages(t, n.Client, gid) {
				if m.ClientMsgID == cmid {
					if r := m.Receipts; r.Total != 2 || r.Delivered != r.Total {
						return fmt.Errorf("receipts %+v", r)
					}
					return nil
				}
			}
			return fmt.Errorf("%s not in %s's history", cmid, n.Name)
		})
	}
	for _, m := range messages(t, c.Client, gid) {
		if strings.Contains(m.Body, "after removal") {
			t.Fatalf("removed member read %q", m.Body)
		}
	}
	if got := len(messages(t, c.Client, gid)); got != 2 {
		t.Fatalf("removed member holds %d messages, want the 2 from before", got)
	}
}

func TestGroupConcurrentAdminChangesConverge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startNodes(t, 4, fast(time.Second))
	a, b := nodes[0], nodes[1]
	gid, uids := makeGroup(t, nodes, "start")
	if _, err := a.Client.SetRole(ctx, gid, []string{uids[1]}, api.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "B becomes admin", func() error {
		cv, err := b.Client.Conversation(ctx, gid)
		if err != nil {
			return err
		}
		for _, m := range cv.Members {
			if m.UserID == uids[1] && m.Role == api.RoleAdmin {
				return nil
			}
		}
		return errors.New("not yet")
	})
	// At once: both rename; A removes D while B demotes A. Once B's demotion has reached
	// A's node, A's own node refuses A's next change (403): that is the right answer, not a
	// failure, so A's changes may each succeed or be forbidden.
	demotedFirst := func(err error) bool {
		var ae *localclient.APIError
		return errors.As(err, &ae) && ae.Status == http.StatusForbidden
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := a.Client.RenameGroup(ctx, gid, "from A"); err != nil && !demotedFirst(err) {
			t.Error(err)
		}
		if _, err := a.Client.ChangeMembers(ctx, gid, nil, []string{uids[3]}); err != nil && !demotedFirst(err) {
			t.Error(err)
		}
	})
	wg.Go(func() {
		if _, err := b.Client.RenameGroup(ctx, gid, "from B"); err != nil {
			t.Error(err)
		}
		if _, err := b.Client.SetRole(ctx, gid, []string{uids[0]}, api.RoleMember); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	state := func(n *nodetest.Node) (string, error) {
		cv, err := n.Client.Conversation(ctx, gid)
		if err != nil {
			return "", err
		}
		b, _ := json.Marshal(struct {
			Name    string
			Members []api.Member
		}{cv.Name, cv.Members})
		return string(b), nil
	}
	wait.For(t, "members converge", func() error {
		ref, err := state(a)
		if err != nil {
			return err
		}
		for _, n := range nodes[1:3] {
			s, err := state(n)
			if err != nil {
				return err
			}
			if s != ref {
				return fmt.Errorf("%s: %s\nA: %s", n.Name, s, ref)
			}
		}
		return nil
	})
	got, _ := state(a)
	if !strings.Contains(got, `"from A"`) && !strings.Contains(got, `"from B"`) {
		t.Fatalf("converged on %s", got)
	}
	cv, err := a.Client.Conversation(ctx, gid)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range cv.Members {
		if m.UserID == uids[0] && m.Role != api.RoleMember {
			t.Fatalf("B's demotion of A was lost: %s", got)
		}
	}
	t.Logf("converged on %s", got)
}

func TestGroupMemberCatchesUpAfterBeingOffline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// No fallback within the test: only gap detection and resend bring messages back.
	nodes := startNodes(t, 3, fast(time.Hour))
	a, c := nodes[0], nodes[2]
	gid, uids := makeGroup(t, nodes, "catch-up")
	// C accepts A as a contact, so that C's heartbeats reconnect it to A after its restart.
	inv, err := a.Client.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.AddContact(ctx, inv.Link); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.Send(ctx, gid, "m0", "while everyone is here"); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, c, gid, 1)

	c.Stop()
	for i := 1; i <= 4; i++ {
		if _, err := a.Client.Send(ctx, gid, fmt.Sprintf("m%d", i), fmt.Sprintf("while C is away %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitMessages(t, nodes[1], gid, 5)
	restarted := time.Now().UnixMilli()
	c.Run()
	wait.For(t, "A hears from C again", func() error {
		cs, err := a.Client.Contacts(ctx)
		if err != nil {
			return err
		}
		for _, x := range cs {
			if x.UserID == uids[2] && x.LastSeen != nil && *x.LastSeen >= restarted {
				return nil
			}
		}
		return errors.New("no heartbeat yet")
	})
	time.Sleep(1500 * time.Millisecond) // a GossipSub heartbeat or two: C is in the mesh
	if _, err := a.Client.Send(ctx, gid, "m5", "welcome back"); err != nil {
		t.Fatal(err)
	}
	got := waitMessages(t, c, gid, 6)
	ref := waitMessages(t, a, gid, 6)
	if !slices.Equal(ids(got), ids(ref)) {
		t.Fatalf("C's history %v, A's %v", ids(got), ids(ref))
	}
}

func TestGroupSizeCap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startNodes(t, 4, func(c *node.Config) { c.Groups.MaxSize = 3 })
	var uids []string
	for _, n := range nodes[1:] {
		nodetest.Befriend(t, nodes[0], n)
		uids = append(uids, nodetest.UserID(t, n))
	}
	var apiErr *localclient.APIError
	_, err := nodes[0].Client.CreateGroup(ctx, "too many", uids)
	if !errors.As(err, &apiErr) || apiErr.Status != 409 || !strings.Contains(apiErr.Message, "at most 3") {
		t.Fatalf("over the cap: %v", err)
	}
	cv, err := nodes[0].Client.CreateGroup(ctx, "just right", uids[:2])
	if err != nil {
		t.Fatal(err)
	}
	_, err = nodes[0].Client.ChangeMembers(ctx, cv.ID, uids[2:], nil)
	if !errors.As(err, &apiErr) || apiErr.Status != 409 {
		t.Fatalf("adding past the cap: %v", err)
	}
	// Not a contact: a clear 400.
	_, err = nodes[1].Client.CreateGroup(ctx, "strangers", uids[1:])
	if !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("group of non-contacts: %v", err)
	}
}

// socket opens a synced socket on n.
func socket(t *testing.T, n *nodetest.Node) *localclient.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, _, err := n.Client.Dial(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Send(map[string]any{"type": "hello", "since": 1 << 62}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == "synced" {
			return s
		}
	}
}

type liveFrame struct {
	Type           string `json:"type"`
	UserID         string `json:"user_id"`
	State          string `json:"state"`
	ConversationID string `json:"conversation_id"`
	LastSeen       *int64 `json:"last_seen"`
}

// pumpFrames reads s's frames into a channel until the socket closes (at the test's
// end, when it is closed and the pump waited for).
func pumpFrames(t *testing.T, s *localclient.Socket) <-chan liveFrame {
	t.Helper()
	out := make(chan liveFrame, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		for {
			f, err := s.Read(context.Background())
			if err != nil {
				return
			}
			var lf liveFrame
			if json.Unmarshal(f.Raw, &lf) == nil {
				select {
				case out <- lf:
				default: // a test that stopped reading: drop rather than block the pump
				}
			}
		}
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return out
}

// waitChan is waitFrame over a pump's frames: it reads until one matches, within d, and
// calls again (when set) every two seconds meanwhile (above TypingRefresh, which drops a
// repeated start). Typing is best-effort: a start lost to a live stream being reopened
// under load is not sent again, so a test repeats it, as a UI does while the user types.
func waitChan(t *testing.T, frames <-chan liveFrame, d time.Duration, again func(), match func(liveFrame) bool) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	deadline := time.After(d)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				return time.Since(start), false
			}
			if match(f) {
				return time.Since(start), true
			}
		case <-tick.C:
			if again != nil {
				again()
			}
		case <-deadline:
			return time.Since(start), false
		}
	}
}

// typer is a function that sends a typing start in conv on s.
func typer(t *testing.T, s *localclient.Socket, conv string) func() {
	return func() {
		if err := s.Send(map[string]any{"type": "typing", "conversation_id": conv, "state": "start"}); err != nil {
			t.Error(err)
		}
	}
}

// waitFrame reads frames until one matches, within d; it returns how long it took.
func waitFrame(t *testing.T, s *localclient.Socket, d time.Duration, match func(liveFrame) bool) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		f, err := s.Read(ctx)
		if err != nil {
			return time.Since(start), false
		}
		var lf liveFrame
		if json.Unmarshal(f.Raw, &lf) == nil && match(lf) {
			return time.Since(start), true
		}
	}
}

func TestPresenceOnlineThenOfflineWithinTimeout(t *testing.T) {
	nodes := startNodes(t, 2, fast(time.Second))
	a, b := nodes[0], nodes[1]
	s := socket(t, a) // before B can be online: presence frames are not replayed
	nodetest.Befriend(t, a, b)
	nodetest.Befriend(t, b, a)
	ub := nodetest.UserID(t, b)
	if _, ok := waitFrame(t, s, 10*time.Second, func(f liveFrame) bool {
		return f.Type == "presence" && f.UserID == ub && f.State == "online"
	}); !ok {
		t.Fatal("B never showed online")
	}
	// A UI that connects (or reloads) while B is online learns it at once, without
	// waiting for a change.
	late := socket(t, a)
	if _, ok := waitFrame(t, late, 3*time.Second, func(f liveFrame) bool {
		return f.Type == "presence" && f.UserID == ub && f.State == "online"
	}); !ok {
		t.Fatal("a socket opened while B is online was not told so")
	}
	b.Stop()
	took, ok := waitFrame(t, s, 5*time.Second, func(f liveFrame) bool {
		return f.Type == "presence" && f.UserID == ub && f.State == "offline" && f.LastSeen != nil
	})
	if !ok || took > 2500*time.Millisecond {
		t.Fatalf("offline after %v (seen: %v); timeout is 1 s", took, ok)
	}
	cs, err := a.Client.Contacts(context.Background())
	if err != nil || len(cs) != 1 || cs[0].LastSeen == nil {
		t.Fatalf("contacts after: %+v %v", cs, err)
	}
}

func TestTypingReachesPeerAndExpires(t *testing.T) {
	nodes := startNodes(t, 2, fast(time.Second))
	a, b := nodes[0], nodes[1]
	conv := nodetest.Befriend(t, a, b).ConversationID
	nodetest.Befriend(t, b, a)
	ua := nodetest.UserID(t, a)
	sb := socket(t, b)
	sa := socket(t, a)
	pb := pumpFrames(t, sb)
	aTypes := typer(t, sa, conv)
	aTypes()
	if _, ok := waitChan(t, pb, 30*time.Second, aTypes, func(f liveFrame) bool {
		return f.Type == "typing" && f.UserID == ua && f.State == "start" && f.ConversationID == conv
	}); !ok {
		t.Fatal("typing start did not reach B")
	}
	// The mark ends by B's own timer, TypingTimeout (1 s) after B took the start: not
	// before (the bound that holds however loaded the machine is).
	took, ok := waitChan(t, pb, 30*time.Second, nil, func(f liveFrame) bool {
		return f.Type == "typing" && f.UserID == ua && f.State == "stop"
	})
	if !ok || took < 900*time.Millisecond {
		t.Fatalf("typing stopped after %v (%v); expected to expire after 1 s", took, ok)
	}
	// Typing is never stored: it is not in the event log.
	evs, err := b.Client.Events(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.Events {
		if strings.Contains(string(ev.Payload), "typing") {
			t.Fatalf("typing in the event log: %s", ev.Payload)
		}
	}
}

func TestPresenceNobodyBothWays(t *testing.T) {
	ctx := context.Background()
	nodes := startNodes(t, 2, fast(time.Second))
	a, b := nodes[0], nodes[1]
	// A shares presence with nobody before it has contacts: a node beats at once to a
	// contact it meets, so a setting changed after befriending would race that first beat.
	nobody := api.PresenceNobody
	if _, err := a.Client.UpdateSettings(ctx, api.SettingsPatch{Presence: &nobody}); err != nil {
		t.Fatal(err)
	}
	convA := nodetest.Befriend(t, a, b).ConversationID
	convB := nodetest.Befriend(t, b, a).ConversationID
	ua, ub := nodetest.UserID(t, a), nodetest.UserID(t, b)
	// A message each way: the nodes are connected, so a typing signal is not lost to a
	// dial that takes longer than a live write may (typing is best-effort).
	if _, err := a.Client.Send(ctx, convA, "nb-a", "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client.Send(ctx, convB, "nb-b", "hi"); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, a, convA, 2)
	waitMessages(t, b, convB, 2)
	sa, sb := socket(t, a), socket(t, b)
	// B never sees A online, and A sees nobody (B is online and beating). What proves that
	// nothing came: typing signals ride the same live stream as heartbeats, in order. Each
	// node types; the other's own timer ends the mark after TypingTimeout (a second, some
	// heartbeat periods: a heartbeat A sent, or one of B's that A showed, would be in that
	// second); then each types again, and that second signal follows, on the stream, every
	// heartbeat sent before it. A presence frame about the other before it fails the test.
	// Each start is repeated until the other node shows it (waitChan: typing is
	// best-effort), and the frames are read from a pump so the repeats go out meanwhile.
	pa, pb := pumpFrames(t, sa), pumpFrames(t, sb)
	until := func(who string, frames <-chan liveFrame, uid, state string, again func()) {
		t.Helper()
		if _, ok := waitChan(t, frames, 30*time.Second, again, func(f liveFrame) bool {
			if f.Type == "presence" && f.UserID == uid {
				t.Fatalf("%s was shown the presence of a node that shares it with nobody, or of a contact while sharing with nobody: %+v", who, f)
			}
			return f.Type == "typing" && f.UserID == uid && f.State == state
		}); !ok {
			t.Fatalf("%s: no typing %s from the other node", who, state)
		}
	}
	aTypes, bTypes := typer(t, sa, convA), typer(t, sb, convB)
	aTypes()
	bTypes()
	until("B", pb, ua, "start", aTypes)
	until("A", pa, ub, "start", bTypes)
	until("B", pb, ua, "stop", nil) // B's expiry of A's mark, a TypingTimeout later
	until("A", pa, ub, "stop", nil)
	aTypes()
	bTypes()
	until("B", pb, ua, "start", aTypes)
	until("A", pa, ub, "start", bTypes)
	for _, n := range nodes {
		cs, err := n.Client.Contacts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].LastSeen != nil {
			t.Fatalf("%s: last_seen %v", n.Name, cs[0].LastSeen)
		}
	}
}

func TestTypingInGroupReachesMembers(t *testing.T) {
	ctx := context.Background()
	nodes := startNodes(t, 3, fast(time.Second))
	gid, uids := makeGroup(t, nodes, "typing")
	// Messages both ways make sure the members are connected (typing never dials in groups).
	for i, n := range nodes {
		if _, err := n.Client.Send(ctx, gid, fmt.Sprintf("t%d", i), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		waitMessages(t, n, gid, 3)
	}
	s2 := socket(t, nodes[2])
	s1 := socket(t, nodes[1])
	p2 := pumpFrames(t, s2)
	types := typer(t, s1, gid)
	types()
	if _, ok := waitChan(t, p2, 30*time.Second, types, func(f liveFrame) bool {
		return f.Type == "typing" && f.ConversationID == gid && f.UserID == uids[1] && f.State == "start"
	}); !ok {
		t.Fatal("group typing did not reach a fellow member")
	}
}

func TestGroupEditsReactionsAndDeletesReachEveryone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startNodes(t, 3, fast(time.Second))
	a, b := nodes[0], nodes[1]
	gid, uids := makeGroup(t, nodes, "edits")
	m, err := a.Client.Send(ctx, gid, "e1", "first draft")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitMessages(t, n, gid, 1)
	}
	if _, err := a.Client.Edit(ctx, m.ID, "final text"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Client.React(ctx, m.ID, "👍", false); err != nil {
		t.Fatal(err)
	}
	var apiErr *localclient.APIError
	if _, err := b.Client.Edit(ctx, m.ID, "not mine"); !errors.As(err, &apiErr) || apiErr.Status != 403 {
		t.Fatalf("editing someone else's group message: %v", err)
	}
	for _, n := range nodes {
		wait.For(t, n.Name+" sees the edit and the reaction", func() error {
			got := messages(t, n.Client, gid)[0]
			if got.Body != "final text" || got.EditedAt == nil {
				return fmt.Errorf("body %q", got.Body)
			}
			if r := got.Reactions["👍"]; len(r) != 1 || r[0] != uids[1] {
				return fmt.Errorf("reactions %v", got.Reactions)
			}
			return nil
		})
	}
	if _, err := a.Client.Delete(ctx, m.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		wait.For(t, n.Name+" sees the delete", func() error {
			if got := messages(t, n.Client, gid)[0]; !got.Deleted || got.Body != "" {
				return fmt.Errorf("not deleted: %+v", got)
			}
			return nil
		})
	}
}

// TestGroupOfflineMemberCatchesUpFromMailbox: a member is offline while others write to the
// group; the messages it missed wait sealed in its mailbox at its home relay (the fallback
// path), and when it comes back it has them all, in the group's order, without anyone
// writing again.
func TestGroupOfflineMemberCatchesUpFromMailbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	relay := relaytest.Start(t, nil)
	nodes := startNodes(t, 3, fast(300*time.Millisecond))
	a, c := nodes[0], nodes[2]
	c.Stop()
	c.Relays = []string{relay.Info.Addrs[0]}
	c.Run()
	gid, _ := makeGroup(t, nodes, "mailbox catch-up")
	if _, err := a.Client.Send(ctx, gid, "m0", "while everyone is here"); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, c, gid, 1)

	c.Stop()
	for i := 1; i <= 3; i++ {
		if _, err := a.Client.Send(ctx, gid, fmt.Sprintf("m%d", i), fmt.Sprintf("while C is away %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitMessages(t, nodes[1], gid, 4)
	wait.For(t, "the missed messages wait in C's mailbox", func() error {
		if got := relay.Stats().Messages; got < 3 {
			return fmt.Errorf("%d at the relay", got)
		}
		return nil
	})
	c.Run()
	got := waitMessages(t, c, gid, 4)
	ref := waitMessages(t, a, gid, 4)
	if !slices.Equal(ids(got), ids(ref)) {
		t.Fatalf("C's history %v, A's %v", ids(got), ids(ref))
	}
}

// forgeGroupKey makes node c (stopped and started again around it) send member to a gkey
// for group gid whose distribution is data, over c's real pairwise session with to: an
// outbox entry written into c's store as c's own code writes one, which c's outbox worker
// then encrypts and delivers like any other.
func forgeGroupKey(t *testing.T, c *nodetest.Node, to string, keys map[string][]byte) {
	t.Helper()
	c.Stop()
	c.UpdateStore(t, func(tx *store.Tx) error {
		cid, err := tx.Get([]byte("cu/" + to))
		if err != nil {
			return fmt.Errorf("C's contact for B: %w", err)
		}
		raw, err := tx.Get([]byte("sc/" + string(cid))) // the contact's delivery counters
		if err != nil {
			return err
		}
		var ct map[string]any
		if err := json.Unmarshal(raw, &ct); err != nil {
			return err
		}
		for gid, data := range keys {
			graw, err := tx.Get([]byte("gm/" + gid))
			if err != nil {
				return err
			}
			var meta struct {
				Head string `json:"head"`
			}
			if err := json.Unmarshal(graw, &meta); err != nil {
				return err
			}
			sendSeq, outSeq := uint64(ct["send_seq"].(float64))+1, uint64(ct["out_seq"].(float64))+1
			ct["send_seq"], ct["out_seq"] = float64(sendSeq), float64(outSeq)
			content := &wire.Content{Kind: wire.KindGroupKey, Seq: sendSeq, ID: fmt.Sprintf("xforged%d", sendSeq),
				TS: hlc.Timestamp{Wall: time.Now().UnixMilli()}.String(), Group: gid, Head: meta.Head, Data: data, GSeq: 1}
			b, err := content.Marshal()
			if err != nil {
				return err
			}
			entry, _ := json.Marshal(map[string]any{"seq": sendSeq, "content": b, "msg_id": "", "created": time.Now().UnixMilli()})
			if err := tx.Set(binary.BigEndian.AppendUint64([]byte("ob/"+string(cid)+"/"), outSeq), entry); err != nil {
				return err
			}
		}
		raw, _ = json.Marshal(ct)
		return tx.Set([]byte("sc/"+string(cid)), raw)
	})
	c.Run()
}

// chainID returns the distribution id node n holds for member uid's chain in gid.
func chainID(t *testing.T, n *nodetest.Node, gid, uid string) []byte {
	t.Helper()
	var id []byte
	n.Stop()
	n.UpdateStore(t, func(tx *store.Tx) error {
		raw, err := tx.Get([]byte("gq/" + gid + "/" + uid))
		if err != nil {
			return err
		}
		var rx struct {
			Dists []struct {
				ID string `json:"id"`
			} `json:"dists"`
		}
		if err := json.Unmarshal(raw, &rx); err != nil || len(rx.Dists) == 0 {
			return fmt.Errorf("no chain of %s: %v", uid, err)
		}
		id, err = hex.DecodeString(rx.Dists[0].ID)
		return err
	})
	n.Run()
	return id
}

// legacyDistribution is an unsigned 86-byte distribution (what older nodes send) under id,
// with a fresh chain key and signing key: keys the forger holds, not id's owner's.
func legacyDistribution(id []byte) []byte {
	d := []byte{0x01, 0x01}
	d = append(d, id...)
	d = append(d, 0, 0, 0, 0)
	ck := make([]byte, 32)
	rand.Read(ck)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	return append(append(d, ck...), pub...)
}

// A member who sends another member a distribution under a third member's chain id (seen
// in every envelope of that member's), for this group or another they share, must not stop
// the victim's messages from being read.
func TestGroupMemberCannotSilenceAnotherWithItsChainID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nodes := startNodes(t, 3, fast(time.Second))
	a, b, c := nodes[0], nodes[1], nodes[2]
	gid, uids := makeGroup(t, nodes, "three")
	other, _ := makeGroup(t, []*nodetest.Node{c, b}, "c and b")
	if _, err := a.Client.Send(ctx, gid, "a1", "before"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitMessages(t, n, gid, 1)
	}
	idA := chainID(t, c, gid, uids[0]) // C holds A's key: it is a member

	// C's forged keys: A's chain id with C's keys, in this group and in the other.
	forgeGroupKey(t, c, uids[1], map[string][]byte{gid: legacyDistribution(idA), other: legacyDistribution(idA)})
	// Then a direct message from C after them, over the same session: once B has it, B
	// has applied the forged keys.
	cs, err := c.Client.Contacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(cs, func(x api.Contact) bool { return x.UserID == uids[1] })
	if i < 0 {
		t.Fatal("C has no contact for B")
	}
	if _, err := c.Client.Send(ctx, cs[i].ConversationID, "c-after", "after the forged keys"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "B receives C's direct message", func() error {
		cv, err := b.Client.Conversations(ctx, "", 100)
		if err != nil {
			return err
		}
		for _, x := range cv.Conversations {
			if x.Type == api.ConversationDirect {
				for _, m := range messages(t, b.Client, x.ID) {
					if m.Body == "after the forged keys" {
						return nil
					}
				}
			}
		}
		return errors.New("not yet")
	})

	// A's genuine messages still reach B (over the mesh, or the pairwise fallback).
	if _, err := a.Client.Send(ctx, gid, "a2", "still heard"); err != nil {
		t.Fatal(err)
	}
	got := waitMessages(t, b, gid, 2)
	if got[1].Body != "still heard" || got[1].SenderID != uids[0] {
		t.Fatalf("B's second message: %+v", got[1])
	}
	// And C's own messages are still C's.
	if _, err := c.Client.Send(ctx, gid, "c1", "from C"); err != nil {
		t.Fatal(err)
	}
	got = waitMessages(t, b, gid, 3)
	if got[2].SenderID != uids[2] {
		t.Fatalf("C's message filed as %s's", got[2].SenderID)
	}
}
