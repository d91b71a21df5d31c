package media

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestManifestJSONIsCompactAndStrict(t *testing.T) {
	mf := Manifest{Size: 3, Key: make([]byte, 32), SHA256: make([]byte, 32), Chunks: []Hash{{1}}}
	mf.File[0] = 0xAB
	b, err := json.Marshal(mf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"file":"ab000000000000000000000000000000"`) {
		t.Fatalf("file id not hex: %s", b)
	}
	var back Manifest
	if err := json.Unmarshal(b, &back); err != nil || back.File != mf.File || back.Chunks[0] != mf.Chunks[0] {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	bad := strings.Replace(string(b), `"file":"ab`, `"file":"zz`, 1)
	if err := json.Unmarshal([]byte(bad), &back); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("bad hex: %v", err)
	}
}

func FuzzManifestCheck(f *testing.F) {
	f.Add([]byte(`{"file":"ab000000000000000000000000000000","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","size":3,"sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","chunks":["0100000000000000000000000000000000000000000000000000000000000000"]}`))
	f.Add([]byte(`{"size":-1,"thumbnail":{"size":1,"thumbnail":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var mf Manifest
		if json.Unmarshal(b, &mf) != nil {
			return
		}
		if err := mf.check(DefaultMaxSize, false); err == nil {
			if len(mf.Chunks) != chunkCount(mf.Size) || mf.Size > DefaultMaxSize || len(mf.Key) != keySize {
				t.Fatalf("accepted an inconsistent manifest: size %d, %d chunks", mf.Size, len(mf.Chunks))
			}
		}
	})
}
