package ledger_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
)

// BenchmarkAppendWriterSigned measures durable appends with writer
// signatures beside the same appends unsigned, in the same run: 64
// appenders, one event each, on the embedded store (group commit).
func BenchmarkAppendWriterSigned(b *testing.B) {
	k, err := ledger.LoadOrCreateKeys(b.TempDir(), "caseledger.bench/writer")
	if err != nil {
		b.Fatal(err)
	}
	meta := []byte(`{"schema_version":1,"actor":{"user_id":"off-0001","role":"officer","agency":"police-lavallee"},"occurred_at":"2026-12-03T09:00:00Z","recorded_at":"2026-12-03T09:00:00Z","source_system":"records","compartment":"police"}`)
	data := []byte(`{"note_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b","text":"Checked in with the victim by phone; safety plan reviewed."}`)
	for _, signed := range []bool{true, false} {
		name := "unsigned_reference"
		if signed {
			name = "writer_signed"
		}
		b.Run(name, func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var store eventstore.Store = st
			if signed {
				store = ledger.SigningStore{Store: st, Writer: k.Signer}
			}
			work := make(chan int)
			var wg sync.WaitGroup
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						e := eventstore.EventData{ID: uuid.New(), Type: "case.note_added", Data: data, Metadata: meta}
						if _, err := store.Append(context.Background(), fmt.Sprintf("case-%s", uuid.NewSHA1(uuid.Nil, []byte(fmt.Sprint(i%512)))), eventstore.Any, []eventstore.EventData{e}); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			i := 0
			for b.Loop() {
				work <- i
				i++
			}
			close(work)
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
