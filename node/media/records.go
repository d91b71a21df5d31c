package media

import (
	"encoding/hex"
	"fmt"

	"github.com/petrel-chat/petrel/node/media/mediarec"
	"github.com/petrel-chat/petrel/node/store"
)

// The records are node/media/mediarec's (doc.go, "At rest"); these are their names here.
type (
	fileRecord   = mediarec.File
	mediaRecord  = mediarec.Media
	uploadRecord = mediarec.Upload
)

const (
	keyFile   = mediarec.KeyFile
	keyMedia  = mediarec.KeyMedia
	keyUpload = mediarec.KeyUpload

	recordVersion    = mediarec.Version
	stateAvailable   = mediarec.StateAvailable
	stateDownloading = mediarec.StateDownloading
	stateFailed      = mediarec.StateFailed
)

func mediaKey(id string) []byte               { return mediarec.MediaKey(id) }
func uploadKey(id string) []byte              { return mediarec.UploadKey(id) }
func sumKey(sum []byte) []byte                { return mediarec.SumKey(sum) }
func refPrefix(media string) []byte           { return mediarec.RefPrefix(media) }
func onFileKey(f FileID, media string) []byte { return mediarec.OnFileKey(f.String(), media) }
func onFilePrefix(f FileID) []byte            { return mediarec.OnFilePrefix(f.String()) }

func hasPrefix(tx *store.Tx, p []byte) (bool, error)     { return mediarec.HasPrefix(tx, p) }
func keysUnder(tx *store.Tx, p []byte) ([]string, error) { return mediarec.KeysUnder(tx, p) }

func (m *Store) getFile(tx *store.Tx, id FileID) (*fileRecord, error) {
	return m.rec.GetFile(tx, id.String())
}
func (m *Store) getMedia(tx *store.Tx, id string) (*mediaRecord, error) {
	return m.rec.GetMedia(tx, id)
}
func (m *Store) getUpload(tx *store.Tx, id string) (*uploadRecord, error) {
	return m.rec.GetUpload(tx, id)
}
func (m *Store) putFile(tx *store.Tx, id FileID, f *fileRecord) error {
	return m.rec.PutFile(tx, id.String(), f)
}
func (m *Store) putMedia(tx *store.Tx, id string, md *mediaRecord) error {
	return m.rec.PutMedia(tx, id, md)
}

func parseFileID(s string) (FileID, error) {
	var f FileID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != FileIDSize {
		return f, fmt.Errorf("%w: file id", ErrNotFound)
	}
	copy(f[:], b)
	return f, nil
}
