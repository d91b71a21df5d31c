package media

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/petrel-chat/petrel/node/media/blobdir"
	"github.com/petrel-chat/petrel/node/media/mediarec"
	"github.com/petrel-chat/petrel/node/store"
)

// Options configure a Store. The zero value is right for a personal node.
type Options struct {
	// MaxSize is the largest file accepted (upload, Put, or a received manifest). Default
	// DefaultMaxSize.
	MaxSize int64
	// Grace is how long a completed upload no message refers to is kept. Default 24 hours.
	Grace time.Duration
	// UploadTTL is how long an unfinished upload session is kept. Default 7 days.
	UploadTTL time.Duration
	// Parallel is how many chunks a download fetches at once. Default 4.
	Parallel int
	// MaxPixels bounds the images decoded for thumbnails and orientation (width × height);
	// larger images are sent without a thumbnail (and a JPEG not turned upright). Default
	// 24 Mi pixels; decoding and turning one costs about 8 bytes per pixel of memory.
	MaxPixels int
	// Sealer, when set, seals the records of media only disappearing messages use
	// (sealed.go); nil keeps every record under the store's sealing only.
	Sealer Sealer
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultMaxSize   = 100 << 20
	defaultGrace     = 24 * time.Hour
	defaultUploadTTL = 7 * 24 * time.Hour
	defaultParallel  = 4
	defaultMaxPixels = 24 << 20
)

func (o Options) withDefaults() Options {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Grace <= 0 {
		o.Grace = defaultGrace
	}
	if o.UploadTTL <= 0 {
		o.UploadTTL = defaultUploadTTL
	}
	if o.Parallel <= 0 {
		o.Parallel = defaultParallel
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = defaultMaxPixels
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store holds a node's media: chunk ciphertexts in a blob directory, keys and manifests in
// the node's encrypted store. Its methods are safe for concurrent use.
type Store struct {
	db    *store.Store
	blobs *blobdir.Dir
	rec   mediarec.Records
	opts  Options
	log   *slog.Logger

	mu       sync.Mutex
	writing  map[string]bool         // upload ids with a Write in progress
	streams  map[network.Stream]bool // served media streams (guarded by mu)
	stopping bool                    // a Serve stop is resetting them (guarded by mu)
	handlers sync.WaitGroup
	served   atomic.Int64 // chunks answered on the media protocol
}

// New opens the media kept in db, with chunk ciphertexts under dir (created 0700; the node
// uses DATA_DIR/media). db stays owned by the caller.
func New(db *store.Store, dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	b, err := blobdir.Open(filepath.Join(dir, "chunks"), SealedChunkSize)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, blobs: b, rec: mediarec.Records{Sealer: opts.Sealer}, opts: opts, log: opts.Logger.With("component", "media"),
		writing: map[string]bool{}}, nil
}

// MaxSize is the configured size limit.
func (m *Store) MaxSize() int64 { return m.opts.MaxSize }

// State of a media file on this node.
type State string

// States (API.md §6).
const (
	Available   State = stateAvailable
	Downloading State = stateDownloading
	Failed      State = stateFailed
)

// Attachment describes one media id, as API.md §6 shows it.
type Attachment struct {
	MediaID          string `json:"media_id"`
	Name             string `json:"name"`
	MIME             string `json:"mime"`
	Size             int64  `json:"size"`
	SHA256           string `json:"sha256"`
	ThumbnailMediaID string `json:"thumbnail_media_id"` // "" means none (null in the API)
	Width            int    `json:"width,omitempty"`
	Height           int    `json:"height,omitempty"`
	DurationMS       int64  `json:"duration_ms,omitempty"`
	State            State  `json:"state"`
	Received         int64  `json:"received,omitempty"`
	// Reason says why a download failed (not in API.md; for logs and the UI's tooltip).
	Reason string `json:"-"`
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + idEncoding.EncodeToString(b[:])
}

func newFile() (FileID, []byte) {
	var id FileID
	rand.Read(id[:])
	key := make([]byte, keySize)
	rand.Read(key)
	return id, key
}

// Put stores the bytes of r as one file, streaming (memory stays near two chunks), and
// returns its Attachment. Over MaxSize is ErrTooLarge and nothing is kept. Images are
// stripped of metadata and get a thumbnail; identical content is stored once.
func (m *Store) Put(ctx context.Context, r io.Reader, name, mime string) (Attachment, error) {
	id, key := newFile()
	w, err := m.newFileWriter(id, key, m.opts.MaxSize)
	if err != nil {
		return Attachment{}, err
	}
	if _, err := io.Copy(w, ctxReader{ctx, r}); err != nil {
		w.abort()
		return Attachment{}, err
	}
	if err := w.finish(); err != nil {
		w.abort()
		return Attachment{}, err
	}
	return m.finalize(ctx, w, name, mime)
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Info describes a media id: for a file still downloading, its state and the bytes
// received so far.
func (m *Store) Info(id string) (Attachment, error) {
	var a Attachment
	err := m.db.View(func(tx *store.Tx) error {
		var err error
		a, err = m.info(tx, id)
		return err
	})
	return a, err
}

// InfoTx is Info inside a transaction (for a Message built in the same View or Update).
func (m *Store) InfoTx(tx *store.Tx, id string) (Attachment, error) { return m.info(tx, id) }

func (m *Store) info(tx *store.Tx, id string) (Attachment, error) {
	md, err := m.getMedia(tx, id)
	if err != nil {
		return Attachment{}, err
	}
	fid, err := parseFileID(md.File)
	if err != nil {
		return Attachment{}, err
	}
	f, err := m.getFile(tx, fid)
	if err != nil {
		return Attachment{}, err
	}
	a := Attachment{
		MediaID: id, Name: md.Name, MIME: md.MIME, Size: f.Size, SHA256: fmt.Sprintf("%x", f.SHA256),
		ThumbnailMediaID: md.Thumb, Width: md.Width, Height: md.Height, DurationMS: md.DurationMS,
		State: State(f.State), Reason: f.Reason,
	}
	if f.State != stateAvailable {
		a.Received = m.received(f)
	}
	return a, nil
}

// received counts the plaintext bytes of the chunks of f already stored.
func (m *Store) received(f *fileRecord) int64 {
	var n int64
	for i := range f.Count() {
		pl := chunkPlainLen(f.Size, i)
		if m.blobs.Has(f.Hash(i), pl+chunkOverhead) {
			n += int64(pl)
		}
	}
	return n
}

// Open returns a reader over the plaintext of an available media id. Each chunk is checked
// against its hash and authenticated when read; a corrupt one is ErrCorrupt from Read.
func (m *Store) Open(id string) (*Reader, error) {
	var f *fileRecord
	var fid FileID
	err := m.db.View(func(tx *store.Tx) error {
		md, err := m.getMedia(tx, id)
		if err != nil {
			return err
		}
		if fid, err = parseFileID(md.File); err != nil {
			return err
		}
		f, err = m.getFile(tx, fid)
		return err
	})
	if err != nil {
		return nil, err
	}
	if f.State != stateAvailable {
		return nil, fmt.Errorf("%w: %s", ErrNotAvailable, f.State)
	}
	return m.newReader(fid, f)
}

func (m *Store) newReader(fid FileID, f *fileRecord) (*Reader, error) {
	c, err := newFileCipher(fid, f.Key)
	if err != nil {
		return nil, err
	}
	hs := make([]Hash, f.Count())
	for i := range hs {
		hs[i] = f.Hash(i)
	}
	return &Reader{blobs: m.blobs, c: c, hashes: hs, size: f.Size, cur: -1}, nil
}

// Reader reads a file's plaintext, one verified chunk at a time. It is an io.ReadSeeker
// and io.ReaderAt; not safe for concurrent use.
type Reader struct {
	blobs  *blobdir.Dir
	c      *fileCipher
	hashes []Hash
	size   int64
	off    int64
	cur    int    // index of the chunk in plain, or -1
	plain  []byte // plaintext of chunk cur
	sealed []byte
}

// Size is the plaintext size.
func (r *Reader) Size() int64 { return r.size }

func (r *Reader) load(i int) error {
	if r.cur == i {
		return nil
	}
	ct, err := r.blobs.Get(r.hashes[i], r.sealed)
	if err != nil {
		if errors.Is(err, blobdir.ErrMissing) {
			return fmt.Errorf("%w: chunk %d missing", ErrCorrupt, i)
		}
		return err
	}
	r.sealed = ct
	pt, err := r.c.open(r.plain[:0], ct, i, i == len(r.hashes)-1)
	if err != nil {
		r.cur = -1
		return err
	}
	if len(pt) != chunkPlainLen(r.size, i) {
		r.cur = -1
		return fmt.Errorf("%w: chunk %d has %d bytes", ErrCorrupt, i, len(pt))
	}
	r.plain, r.cur = pt, i
	return nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("media: negative offset")
	}
	n := 0
	for n < len(p) {
		if off >= r.size {
			return n, io.EOF
		}
		i := int(off / ChunkSize)
		if err := r.load(i); err != nil {
			return n, err
		}
		k := copy(p[n:], r.plain[off-int64(i)*ChunkSize:])
		n += k
		off += int64(k)
	}
	return n, nil
}

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("media: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("media: seek before start")
	}
	r.off = offset
	return offset, nil
}
