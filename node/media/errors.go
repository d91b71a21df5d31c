package media

import (
	"errors"

	"github.com/petrel-chat/petrel/node/media/blobdir"
	"github.com/petrel-chat/petrel/node/media/mediarec"
)

// Errors to branch on with errors.Is. The local API maps them to API.md codes: ErrTooLarge
// → 413 too_large; ErrNotFound → 404 not_found; ErrNotAvailable → 409 conflict (and starts
// the download); ErrOffsetMismatch, ErrBusy → 409 conflict; ErrIncomplete, ErrBeyondLength,
// ErrBadManifest → 400 bad_request.
var (
	// ErrTooLarge: a file over Options.MaxSize (an upload, a Put, or a manifest a sender
	// claims); refused before any byte over the limit is stored or fetched.
	ErrTooLarge = errors.New("media: file too large")
	// ErrNotFound: no media, upload or file with that id.
	ErrNotFound = mediarec.ErrNotFound
	// ErrNotAvailable: the media is known but not (yet) here in full.
	ErrNotAvailable = errors.New("media: not downloaded")
	// ErrOffsetMismatch: an upload Write at an offset other than the upload's.
	ErrOffsetMismatch = errors.New("media: upload offset mismatch")
	// ErrBusy: another Write to the same upload is in progress.
	ErrBusy = errors.New("media: upload busy")
	// ErrIncomplete: Complete before every byte of the upload arrived.
	ErrIncomplete = errors.New("media: upload incomplete")
	// ErrBeyondLength: a Write carrying more bytes than the upload's declared length.
	ErrBeyondLength = errors.New("media: more bytes than the upload length")
	// ErrBadManifest: a manifest that is not self-consistent (key size, chunk count).
	ErrBadManifest = errors.New("media: malformed manifest")
	// ErrFileConflict: a manifest naming a file id this node already holds with another
	// key, size, SHA-256 or chunks. The file id is the sender's claim: a manifest is
	// believed for a known id only when it describes the same file.
	ErrFileConflict = errors.New("media: a manifest reuses a known file id for another file")
	// ErrCorrupt: a chunk whose ciphertext does not match its hash or fails authentication.
	ErrCorrupt = blobdir.ErrCorrupt
	// ErrFetchFailed: no source delivered a chunk, or the plaintext did not match its
	// SHA-256; the file's state is failed, with the reason in the error and Info.
	ErrFetchFailed = errors.New("media: download failed")

	// ErrUnreachable: no source could be reached (streams failed, the relay did not
	// answer); no source refused or sent wrong bytes. The file stays downloading, to be
	// retried when a source is back.
	ErrUnreachable = errors.New("media: no source reachable")
)
