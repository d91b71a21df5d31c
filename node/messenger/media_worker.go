package messenger

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
)

// Media worker tuning.
const (
	mediaParallel = 2                      // downloads at once
	mediaRetry    = 15 * time.Second       // a source unreachable, or a relay upload failed
	mediaProgress = 250 * time.Millisecond // at most one progress event per …, or per 10 %
)

// mediaWorker runs a node's media jobs under Messenger.Run: it leaves sent files at the
// home relays (mq/u/ records) and downloads received ones (mq/d/ records). Both queues
// are durable: Run resumes what a restart cut.
type mediaWorker struct {
	up   chan struct{}
	down chan string

	mu      sync.Mutex
	running map[string]bool
}

func newMediaWorker() *mediaWorker {
	return &mediaWorker{up: make(chan struct{}, 1), down: make(chan string, 256), running: map[string]bool{}}
}

func (w *mediaWorker) kickUp() {
	select {
	case w.up <- struct{}{}:
	default:
	}
}

func (w *mediaWorker) kickDown(id string) {
	select {
	case w.down <- id:
	default: // the queue is full: the job stays in the store, a later scan takes it
	}
}

// runMedia serves the media protocol and runs the workers until ctx ends.
func (m *Messenger) runMedia(ctx context.Context, h host.Host) {
	if m.cfg.Media == nil {
		<-ctx.Done()
		return
	}
	stop := m.cfg.Media.Serve(h, m.authorizeMedia)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.runUploads(ctx, h)
	}()
	// Pending downloads from before a restart.
	var pending []string
	_ = m.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: mediaDownPrefix}, func(k, v []byte) (bool, error) {
			var j downJob
			if err := json.Unmarshal(v, &j); err == nil && j.Auto {
				pending = append(pending, string(k[len(mediaDownPrefix):]))
			}
			return true, nil
		})
	})
	for _, id := range pending {
		m.media.kickDown(id)
	}
	sem := make(chan struct{}, mediaParallel)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-m.media.down:
			m.media.mu.Lock()
			busy := m.media.running[id]
			m.media.running[id] = true
			m.media.mu.Unlock()
			if busy {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				retry := m.download(ctx, h, id)
				<-sem
				m.media.mu.Lock()
				delete(m.media.running, id)
				m.media.mu.Unlock()
				if !retry {
					return
				}
				t := time.NewTimer(mediaRetry)
				defer t.Stop()
				select {
				case <-ctx.Done():
				case <-t.C:
					m.media.kickDown(id)
				}
			}()
		}
	}
}

// download runs one download job; true means retry later (no source reachable).
func (m *Messenger) download(ctx context.Context, h host.Host, id string) bool {
	var j downJob
	found := false
	err := m.st.View(func(tx *store.Tx) error {
		var err error
		found, err = store.GetJSON(tx, kMediaDown(id), &j)
		return err
	})
	if err != nil || !found {
		return false
	}
	src := media.Sources{Host: h}
	if p, err := peer.Decode(j.Peer); err == nil {
		src.Peers = []peer.ID{p}
	}
	if rs := relayInfos(h, j.Relays); len(rs) > 0 {
		src.Blobs = &relayBlobs{h: h, relays: rs, blobs: j.Blobs}
	}
	var last time.Time
	var lastRecv int64
	progress := func(a media.Attachment) {
		step := a.Size / 10
		if a.State == media.Downloading && time.Since(last) < mediaProgress && a.Received-lastRecv < step {
			return
		}
		last, lastRecv = time.Now(), a.Received
		m.mediaUpdate(ctx, id, j.Messages, a)
	}
	a, err := m.cfg.Media.Download(ctx, id, src, progress)
	switch {
	case ctx.Err() != nil:
		return false
	case errors.Is(err, media.ErrUnreachable):
		m.log.Info("media download waits for a source", "media", id, "err", err)
		return true
	case errors.Is(err, media.ErrBusy):
		return false
	case err != nil:
		m.log.Warn("media download failed", "media", id, "err", err)
		if a, ierr := m.cfg.Media.Info(id); ierr == nil {
			m.mediaUpdate(ctx, id, j.Messages, a)
		}
		// Kept, not automatic: a UI's FetchMedia tries the sources again.
		j.Auto = false
		_ = m.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error { return store.PutJSON(tx, kMediaDown(id), &j) })
		return false
	default:
		m.mediaUpdate(ctx, id, j.Messages, a)
	}
	_ = m.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error { return tx.Delete(kMediaDown(id)) })
	return false
}

// mediaUpdate sets attachment a's state and progress on messages msgs and reports each
// (message_update). A thumbnail's progress changes no message.
func (m *Messenger) mediaUpdate(ctx context.Context, id string, msgs []string, a media.Attachment) {
	err := m.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		for _, mid := range msgs {
			r, err := history.LoadItem(tx, mid)
			if errors.Is(err, api.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			changed := false
			for i := range r.M.Attachments {
				if r.M.Attachments[i].MediaID == id {
					r.M.Attachments[i] = apiAttachment(a)
					changed = true
				}
			}
			if !changed {
				continue
			}
			if err := m.putMsg(tx, r, false); err != nil {
				return err
			}
			if _, err := m.ev.Append(tx, api.KindMessageUpdate, r.M); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		m.log.Warn("media progress", "media", id, "err", err)
	}
}

// runUploads leaves the chunks of sent messages' media at every home relay, once per
// message (a group message's once for all its members), retrying until each relay holds
// them; a job is removed when every relay does.
func (m *Messenger) runUploads(ctx context.Context, h host.Host) {
	relays := relayInfos(h, m.cfg.Relays)
	m.media.kickUp()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.media.up:
		}
		type job struct {
			msg string
			j   upJob
		}
		var jobs []job
		_ = m.st.View(func(tx *store.Tx) error {
			return tx.Iterate(store.IterOptions{Prefix: mediaUpPrefix}, func(k, v []byte) (bool, error) {
				var j upJob
				if err := json.Unmarshal(v, &j); err == nil {
					jobs = append(jobs, job{string(k[len(mediaUpPrefix):]), j})
				}
				return true, nil
			})
		})
		failed := false
		for _, jb := range jobs {
			if err := m.uploadMedia(ctx, h, relays, jb.j.Media); err != nil {
				if ctx.Err() != nil {
					return
				}
				m.log.Info("media upload to the home relays waits", "message", jb.msg, "err", err)
				failed = true
				continue
			}
			_ = m.st.Update(ctx, func(tx *store.Tx) error { return tx.Delete(kMediaUp(jb.msg)) })
		}
		if failed {
			t := time.NewTimer(mediaRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
				m.media.kickUp()
			}
		}
	}
}

// uploadMedia puts each chunk of ids (and their thumbnails), padded to its bucket, at
// each relay (a chunk a relay holds already only renews it there).
func (m *Messenger) uploadMedia(ctx context.Context, h host.Host, relays []peer.ID, ids []string) error {
	for _, id := range ids {
		err := m.cfg.Media.SealedChunks(id, func(_ media.Hash, ct []byte) error {
			blob := padChunk(ct)
			for _, r := range relays {
				if _, err := mailboxclient.PutBlob(ctx, h, r, m.id, blob); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, media.ErrNotFound) {
			continue // deleted since
		}
		if err != nil {
			return err
		}
	}
	return nil
}
