package history

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// BenchmarkPutGetMessage: writing and reading back a message record in one transaction,
// without a timer and with one (sealed under its bucket key), 64 messages per Update.
func BenchmarkPutGetMessage(b *testing.B) {
	for _, secs := range []int64{0, 3600} {
		b.Run(fmt.Sprintf("timer=%ds", secs), func(b *testing.B) {
			st := storetest.Open(b)
			kr, err := shredkeys.Open(context.Background(), st, shredkeys.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer kr.Close()
			exp := time.Now().Add(time.Hour).UnixMilli()
			b.ResetTimer()
			for i := 0; i < b.N; i += 64 {
				err := st.Update(context.Background(), func(tx *store.Tx) error {
					for j := range 64 {
						id := fmt.Sprintf("m%d-%d", i, j)
						r := &Message{ID: id, ConversationID: "d1", Body: "a message body of some fifty bytes, give or take", Disappear: secs}
						if secs > 0 {
							r.ExpiresAt = &exp
						}
						if err := PutMessage(tx, kr, r); err != nil {
							return err
						}
						if _, err := GetMessage(tx, kr, id); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
