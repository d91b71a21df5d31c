package attachments

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Config is what a Service is given.
type Config struct {
	Store *store.Store
	// Media is the node's media store; nil means a node without media (tests of other
	// parts): a send with attachments is refused, received ones are dropped.
	Media    *media.Store
	Events   *eventlog.Log
	Identity *identity.Identity // uploads to the home relays' blob stores
	// Relays are the home relays (full multiaddrs) a sent file is left at.
	Relays []string
	Logger *slog.Logger
	// SaveMessage writes message r (no index change) when a download changes its
	// attachment (the messenger's, so that what it keeps beside a message follows).
	SaveMessage func(tx *store.Tx, r *history.Item) error
	// Sealer opens a disappearing message's content (node/history); nil: none is sealed.
	Sealer history.Sealer
}

// Service carries attachments in messages; create it with New, run it with Run.
type Service struct {
	cfg  Config
	st   *store.Store
	ms   *media.Store
	log  *slog.Logger
	jobs *jobs
}

// New returns a Service; nothing runs before Run.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, st: cfg.Store, ms: cfg.Media, log: cfg.Logger, jobs: newJobs()}
}

// AutoDownloadMax is the size up to which a received file downloads by itself (API.md §6);
// larger ones on FetchMedia (a UI's first GET), their thumbnails by themselves.
const AutoDownloadMax = 16 << 20

// wireAttachment is one attachment as a text carries it (wire.Content.Attachments): the
// file's manifest, and the relay blob ids of the chunks the sender padded to a relay size
// bucket (a sealed chunk of exactly a bucket's size is its own blob: id = chunk hash).
type wireAttachment struct {
	media.Manifest
	Blobs map[media.Hash]string `json:"blobs,omitempty"` // chunk hash → hex blob id
}

// Media job records (the durable queues of the workers, worker.go).
func kMediaUp(msgID string) []byte { return []byte("mq/u/" + msgID) }
func kMediaDown(id string) []byte  { return []byte("mq/d/" + id) }

var (
	mediaUpPrefix   = []byte("mq/u/")
	mediaDownPrefix = []byte("mq/d/")
)

// upJob: the media of message Msg still to leave at the home relays.
type upJob struct {
	V     int      `json:"v"`
	Media []string `json:"media"`
}

// downJob: a received media id to download, its messages and where from.
type downJob struct {
	V        int               `json:"v"`
	Messages []string          `json:"messages"`
	Peer     string            `json:"peer"`   // the sender's peer id
	Relays   []string          `json:"relays"` // the sender's home relays (full multiaddrs)
	Blobs    map[string]string `json:"blobs"`  // chunk hash hex → blob id hex
	Auto     bool              `json:"auto"`   // download without being asked
}

// padChunk is a sealed chunk padded with zeros to its relay bucket.
func padChunk(ct []byte) []byte {
	n := relaywire.BlobBucket(len(ct))
	if n == len(ct) {
		return ct
	}
	out := make([]byte, n)
	copy(out, ct)
	return out
}

// Resolve checks a send's attachments (outside any transaction) and returns their media
// ids and wire forms (manifests and padded blob ids), for Sent and wire.Content.
func (s *Service) Resolve(req []api.Attachment) ([]string, []json.RawMessage, error) {
	if len(req) == 0 {
		return nil, nil, nil
	}
	if len(req) > wire.MaxAttachments {
		return nil, nil, api.Errorf(api.ErrBadRequest, "%d attachments: at most %d per message", len(req), wire.MaxAttachments)
	}
	if s.ms == nil {
		return nil, nil, api.Errorf(api.ErrNotImplemented, "this node has no media store")
	}
	var ids []string
	var raws []json.RawMessage
	for _, a := range req {
		if a.MediaID == "" {
			return nil, nil, api.Errorf(api.ErrBadRequest, "an attachment without media_id")
		}
		var mf media.Manifest
		err := s.st.View(func(tx *store.Tx) error {
			var err error
			mf, err = s.ms.Manifest(tx, a.MediaID)
			return err
		})
		switch {
		case errors.Is(err, media.ErrNotFound):
			return nil, nil, api.Errorf(api.ErrBadRequest, "unknown media id %q (upload it with POST /v1/media first)", a.MediaID)
		case errors.Is(err, media.ErrNotAvailable):
			return nil, nil, api.Errorf(api.ErrBadRequest, "media %q is not here in full (%v)", a.MediaID, err)
		case err != nil:
			return nil, nil, err
		}
		wa := wireAttachment{Manifest: mf}
		err = s.ms.SealedChunks(a.MediaID, func(h media.Hash, ct []byte) error {
			if p := padChunk(ct); len(p) != len(ct) {
				if wa.Blobs == nil {
					wa.Blobs = map[media.Hash]string{}
				}
				id := relaywire.BlobIDOf(p)
				wa.Blobs[h] = hex.EncodeToString(id[:])
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("attachments: media %s: %w", a.MediaID, err)
		}
		b, err := json.Marshal(wa)
		if err != nil {
			return nil, nil, err
		}
		if len(b) > wire.MaxAttachment {
			return nil, nil, api.Errorf(api.ErrTooLarge, "media %q: its manifest is %d bytes, over %d", a.MediaID, len(b), wire.MaxAttachment)
		}
		ids, raws = append(ids, a.MediaID), append(raws, b)
	}
	return ids, raws, nil
}

// Sent records a sent message's attachments in tx: each media id (from Resolve) is
// referred to by the message, and the message's media are queued for the home relays. It
// returns the attachments for the Message.
func (s *Service) Sent(tx *store.Tx, msgID string, ids []string) ([]api.Attachment, error) {
	out := []api.Attachment{}
	for _, id := range ids {
		if err := media.Ref(tx, id, msgID); err != nil {
			if errors.Is(err, media.ErrNotFound) {
				return nil, api.Errorf(api.ErrBadRequest, "unknown media id %q", id)
			}
			return nil, err
		}
		a, err := s.ms.InfoTx(tx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, apiAttachment(a))
	}
	if len(ids) > 0 && len(s.cfg.Relays) > 0 {
		if err := store.PutJSON(tx, kMediaUp(msgID), &upJob{V: 1, Media: ids}); err != nil {
			return nil, err
		}
		tx.OnCommit(s.jobs.kickUp)
	}
	return out, nil
}

func apiAttachment(a media.Attachment) api.Attachment { return a.API() }

// Received records the attachments of a received message in tx: each manifest is added
// to the media store (a hostile one, too large or inconsistent, is dropped with a warning:
// nothing of it is stored), referred to by the message, and queued for download from the
// sender (peer from) and its relays.
func (s *Service) Received(tx *store.Tx, msgID, from string, relays []string, raws []json.RawMessage) []api.Attachment {
	out := []api.Attachment{}
	if len(raws) == 0 {
		return out
	}
	if s.ms == nil {
		s.log.Warn("a message with attachments, and no media store", "message", msgID)
		return out
	}
	for _, raw := range raws {
		var wa wireAttachment
		if err := json.Unmarshal(raw, &wa); err != nil {
			s.log.Warn("attachment dropped", "message", msgID, "err", err)
			continue
		}
		id, err := s.ms.AddTx(tx, wa.Manifest)
		if err == nil {
			err = media.Ref(tx, id, msgID)
		}
		var a media.Attachment
		if err == nil {
			a, err = s.ms.InfoTx(tx, id)
		}
		if err != nil {
			s.log.Warn("attachment dropped", "message", msgID, "err", err)
			continue
		}
		out = append(out, apiAttachment(a))
		if a.State == media.Available {
			continue
		}
		blobs := map[string]string{}
		for h, b := range wa.Blobs {
			blobs[h.String()] = b
		}
		job := func(id string, auto bool) {
			var j downJob
			if _, err := store.GetJSON(tx, kMediaDown(id), &j); err != nil {
				s.log.Warn("media job", "err", err)
				return
			}
			j.V, j.Peer, j.Relays, j.Blobs, j.Auto = 1, from, relays, blobs, j.Auto || auto
			if !containsStr(j.Messages, msgID) {
				j.Messages = append(j.Messages, msgID)
			}
			if err := store.PutJSON(tx, kMediaDown(id), &j); err != nil {
				s.log.Warn("media job", "err", err)
				return
			}
			if j.Auto {
				tx.OnCommit(func() { s.jobs.kickDown(id) })
			}
		}
		auto := wa.Size <= AutoDownloadMax
		job(id, auto)
		if a.ThumbnailMediaID != "" && !auto {
			job(a.ThumbnailMediaID, true)
		}
	}
	return out
}

func containsStr(xs []string, v string) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

// Fetch starts the download of a received media id that is not here yet (a UI's
// first GET of a large file): it returns once the download is queued. A failed one is tried
// again from its sources. A media id that is here already, or downloading, is nil; an
// unknown one api not_found.
func (s *Service) Fetch(ctx context.Context, mediaID string) error {
	if s.ms == nil {
		return api.Errorf(api.ErrNotFound, "no media %q", mediaID)
	}
	a, err := s.ms.Info(mediaID)
	if errors.Is(err, media.ErrNotFound) {
		return api.Errorf(api.ErrNotFound, "no media %q", mediaID)
	} else if err != nil {
		return err
	}
	if a.State == media.Available {
		return nil
	}
	kick := false
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		var j downJob
		found, err := store.GetJSON(tx, kMediaDown(mediaID), &j)
		if err != nil || !found {
			return err // a file of ours, or one with no source known: nothing to start
		}
		kick = true
		if j.Auto {
			return nil
		}
		j.Auto = true
		return store.PutJSON(tx, kMediaDown(mediaID), &j)
	})
	if err != nil {
		return err
	}
	if kick {
		s.jobs.kickDown(mediaID)
	}
	return nil
}

// Authorize is the media server's Authorizer: the peer must be the proven peer of a
// contact, or a device on a contact's verified device list, who is a member of the
// conversation of one of the messages that refer to the file; or one of our own
// account's other devices, which holds every conversation we hold, for a file one of our
// messages refers to (docs/ARCHITECTURE.md, "Media").
func (s *Service) Authorize(req media.FetchRequest) bool {
	pid := req.Peer.String()
	ok := false
	_ = s.st.View(func(tx *store.Tx) error {
		cid, err := contacts.ByPeer(tx, pid)
		if err != nil {
			return err
		}
		listed := false // pid is a listed, active device of cid's account (not its primary)
		if cid == "" {
			ch, err := devices.ChannelByPeer(tx, pid)
			if err != nil || ch == "" {
				return err
			}
			owner, _ := devices.SplitChannel(ch)
			if owner == devices.Own {
				ok = slices.ContainsFunc(req.Messages, func(mid string) bool {
					_, err := history.LoadItem(tx, s.cfg.Sealer, mid)
					return err == nil
				})
				return nil
			}
			cid, listed = owner, true
		}
		c, err := sessions.LoadContact(tx, cid)
		if err != nil || c.Blocked || !listed && (!c.PeerProven || c.PeerID != pid) {
			return err
		}
		for _, mid := range req.Messages {
			r, err := history.LoadItem(tx, s.cfg.Sealer, mid)
			if err != nil {
				continue
			}
			if r.ContactID != "" {
				if r.ContactID == c.ID {
					ok = true
					return nil
				}
				continue
			}
			g, err := groups.Load(tx, r.M.ConversationID)
			if err != nil || !g.Me {
				continue
			}
			for _, mb := range g.Members {
				if mb.UserID == c.UserID {
					ok = true
					return nil
				}
			}
		}
		return nil
	})
	return ok
}

// relayInfos parses full relay multiaddrs (…/p2p/ID) into peers and adds their addresses to
// h's peerstore.
func relayInfos(h host.Host, addrs []string) []peer.ID {
	var out []peer.ID
	for _, s := range addrs {
		s, _, _ = strings.Cut(s, "#")
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			continue
		}
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		out = append(out, ai.ID)
	}
	return out
}

// relayBlobs is a media.BlobSource over the sender's home relays: a chunk is the blob of
// its hash, or, for a chunk the sender padded, of the blob id the message named; the
// padding is left out by asking only for the chunk's bytes.
type relayBlobs struct {
	h      host.Host
	relays []peer.ID
	blobs  map[string]string
}

func (r *relayBlobs) Get(ctx context.Context, h media.Hash, off, n int64) ([]byte, error) {
	bid := relaywire.BlobID(h)
	if s, ok := r.blobs[h.String()]; ok {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != relaywire.BlobIDSize {
			return nil, fmt.Errorf("%w: a bad blob id in the message", media.ErrNotFound)
		}
		copy(bid[:], b)
	}
	var errs []error
	missing := 0
	for _, p := range r.relays {
		b, err := mailboxclient.GetBlob(ctx, r.h, p, bid, int(off), int(n))
		if err == nil {
			return b, nil
		}
		if errors.Is(err, mailboxclient.ErrBlobNotFound) {
			missing++
		}
		if errors.Is(err, mailboxclient.ErrBlobCorrupt) {
			missing++ // an answer, and a wrong one: definitive, like no such blob
		}
		errs = append(errs, err)
	}
	if len(r.relays) > 0 && missing == len(r.relays) {
		// Every relay answered no, or sent bytes that are not the blob: the file fails with
		// the reasons unless another source has the chunk.
		return nil, fmt.Errorf("%w: at the sender's relays: %w", media.ErrNotFound, errors.Join(errs...))
	}
	if len(errs) == 0 {
		return nil, errors.New("attachments: the sender has no relays")
	}
	return nil, errors.Join(errs...)
}

// Drop removes a deleted message's attachments: its references to the media (GC removes a
// file no message refers to) and its pending relay upload.
func (s *Service) Drop(tx *store.Tx, r *history.Item) error {
	for _, a := range r.M.Attachments {
		if err := media.Unref(tx, a.MediaID, r.M.ID); err != nil {
			return err
		}
	}
	r.M.Attachments = []api.Attachment{}
	return tx.Delete(kMediaUp(r.M.ID))
}
