package attachments

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

// jobs wakes a Service's workers (Run): the upload of sent files to the home relays
// (mq/u/ records) and the downloads of received ones (mq/d/ records). Both queues are
// durable: Run resumes what a restart cut.
type jobs struct {
	up   chan struct{}
	down chan string

	mu      sync.Mutex
	running map[string]bool
}

func newJobs() *jobs {
	return &jobs{up: make(chan struct{}, 1), down: make(chan string, 256), running: map[string]bool{}}
}

func (w *jobs) kickUp() {
	select {
	case w.up <- struct{}{}:
	default:
	}
}

func (w *jobs) kickDown(id string) {
	select {
	case w.down <- id:
	default: // the queue is full: the job stays in the store, a later scan takes it
	}
}

// Run serves the media protocol on h and runs the workers until ctx ends; it returns
// once every goroutine it started has stopped.
func (s *Service) Run(ctx context.Context, h host.Host) {
	if s.ms == nil {
		<-ctx.Done()
		return
	}
	stop := s.ms.Serve(h, s.Authorize)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.runUploads(ctx, h)
	}()
	// Pending downloads from before a restart.
	var pending []string
	_ = s.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: mediaDownPrefix}, func(k, v []byte) (bool, error) {
			var j downJob
			if err := json.Unmarshal(v, &j); err == nil && j.Auto {
				pending = append(pending, string(k[len(mediaDownPrefix):]))
			}
			return true, nil
		})
	})
	for _, id := range pending {
		s.jobs.kickDown(id)
	}
	sem := make(chan struct{}, mediaParallel)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-s.jobs.down:
			s.jobs.mu.Lock()
			busy := s.jobs.running[id]
			s.jobs.running[id] = true
			s.jobs.mu.Unlock()
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
				retry := s.download(ctx, h, id)
				<-sem
				s.jobs.mu.Lock()
				delete(s.jobs.running, id)
				s.jobs.mu.Unlock()
				if !retry {
					return
				}
				t := time.NewTimer(mediaRetry)
				defer t.Stop()
				select {
				case <-ctx.Done():
				case <-t.C:
					s.jobs.kickDown(id)
				}
			}()
		}
	}
}

// download runs one download job; true means retry later (no source reachable).
func (s *Service) download(ctx context.Context, h host.Host, id string) bool {
	var j downJob
	found := false
	err := s.st.View(func(tx *store.Tx) error {
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
		s.mediaUpdate(ctx, id, j.Messages, a)
	}
	a, err := s.ms.Download(ctx, id, src, progress)
	switch {
	case ctx.Err() != nil:
		return false
	case errors.Is(err, media.ErrUnreachable):
		s.log.Info("media download waits for a source", "media", id, "err", err)
		return true
	case errors.Is(err, media.ErrBusy):
		return false
	case err != nil:
		s.log.Warn("media download failed", "media", id, "err", err)
		if a, ierr := s.ms.Info(id); ierr == nil {
			s.mediaUpdate(ctx, id, j.Messages, a)
		}
		// Kept, not automatic: a UI's FetchMedia tries the sources again.
		j.Auto = false
		_ = s.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error { return store.PutJSON(tx, kMediaDown(id), &j) })
		return false
	default:
		s.mediaUpdate(ctx, id, j.Messages, a)
	}
	_ = s.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error { return tx.Delete(kMediaDown(id)) })
	return false
}

// mediaUpdate sets attachment a's state and progress on messages msgs and reports each
// (message_update). A thumbnail's progress changes no message.
func (s *Service) mediaUpdate(ctx context.Context, id string, msgs []string, a media.Attachment) {
	err := s.st.Update(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		for _, mid := range msgs {
			r, err := history.LoadItem(tx, s.cfg.Sealer, mid)
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
			if err := s.cfg.SaveMessage(tx, r); err != nil {
				return err
			}
			if _, err := s.cfg.Events.Append(tx, api.KindMessageUpdate, r.M); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("media progress", "media", id, "err", err)
	}
}

// runUploads leaves the chunks of sent messages' media at every home relay, once per
// message (a group message's once for all its members), retrying until each relay holds
// them; a job is removed when every relay does.
func (s *Service) runUploads(ctx context.Context, h host.Host) {
	relays := relayInfos(h, s.cfg.Relays)
	s.jobs.kickUp()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.jobs.up:
		}
		type job struct {
			msg string
			j   upJob
		}
		var jobs []job
		_ = s.st.View(func(tx *store.Tx) error {
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
			if err := s.uploadMedia(ctx, h, relays, jb.j.Media); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Info("media upload to the home relays waits", "message", jb.msg, "err", err)
				failed = true
				continue
			}
			_ = s.st.Update(ctx, func(tx *store.Tx) error { return tx.Delete(kMediaUp(jb.msg)) })
		}
		if failed {
			t := time.NewTimer(mediaRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
				s.jobs.kickUp()
			}
		}
	}
}

// uploadMedia puts each chunk of ids (and their thumbnails), padded to its bucket, at
// each relay (a chunk a relay holds already only renews it there).
func (s *Service) uploadMedia(ctx context.Context, h host.Host, relays []peer.ID, ids []string) error {
	for _, id := range ids {
		err := s.ms.SealedChunks(id, func(_ media.Hash, ct []byte) error {
			blob := padChunk(ct)
			for _, r := range relays {
				if _, err := mailboxclient.PutBlob(ctx, h, r, s.cfg.Identity, blob); err != nil {
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
