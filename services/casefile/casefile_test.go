package casefile_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStoreAndLoad appends generated cases step by step, as ingest will,
// and loads each back to the same state and the same events.
func TestStoreAndLoad(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	cases, err := gen.New(4).Cases(15)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		var s domain.State
		for _, step := range c.Steps {
			if _, err := casefile.Append(ctx, st, s, step.Events); err != nil {
				t.Fatal(err)
			}
			for _, e := range step.Events {
				s = domain.Evolve(s, e)
			}
		}
	}
	for _, c := range cases {
		s, recs, err := casefile.Load(ctx, st, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, c.State) {
			t.Fatalf("case %s loads to another state", c.ID)
		}
		want := c.Events()
		for i, r := range recs {
			e, err := casefile.Decode(r)
			if err != nil {
				t.Fatal(err)
			}
			e.Meta.OccurredAt, e.Meta.RecordedAt = e.Meta.OccurredAt.UTC(), e.Meta.RecordedAt.UTC()
			if !reflect.DeepEqual(e, want[i]) {
				t.Fatalf("event %d of %s differs after the store:\n%+v\n%+v", i, c.ID, e, want[i])
			}
		}
		if b := eventstore.VerifyStream(recs); b != nil {
			t.Fatal(b)
		}
	}
}

// TestExecuteRetriesAndAbsorbs runs the first steps of a case through
// Execute from concurrent callers: the same command delivered several times
// is written once, and every caller gets the stored result.
func TestExecuteRetriesAndAbsorbs(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	c, err := gen.New(8).Case()
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range c.Steps[:10] {
		now := func() time.Time { return step.Now }
		var wg sync.WaitGroup
		results := make([]eventstore.AppendResult, 4)
		errs := make([]error, 4)
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], _, errs[i] = casefile.Execute(ctx, st, step.Command, now, 5)
			}()
		}
		wg.Wait()
		written := 0
		for i := range 4 {
			// Every delivery succeeds: one writes, the others are absorbed,
			// whether they raced the write or came after it.
			if errs[i] != nil {
				t.Fatalf("%s delivery %d: %v", domain.CommandName(step.Command), i, errs[i])
			}
			if results[i].LastVersion < results[i].FirstVersion {
				t.Fatalf("result %+v", results[i])
			}
			if !results[i].Duplicate {
				written++
			}
		}
		if written != 1 {
			t.Fatalf("%s written %d times", domain.CommandName(step.Command), written)
		}
	}
	s, recs, err := casefile.Load(ctx, st, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, step := range c.Steps[:10] {
		want += len(step.Events)
	}
	if len(recs) != want || s.Version != int64(want) {
		t.Fatalf("%d events stored, want %d", len(recs), want)
	}
}

func TestDecodeRefusesForeignRecords(t *testing.T) {
	r := eventstore.Record{ID: uuid.New(), Stream: "access-2026-01-02", Type: "case.opened", Data: []byte(`{}`), Metadata: []byte(`{}`)}
	if _, err := casefile.Decode(r); !errors.Is(err, casefile.ErrNotCase) {
		t.Fatalf("access stream: %v", err)
	}
	r.Stream = domain.StreamName(uuid.New())
	r.Metadata = []byte(`{"schema_version":1,"actor":{"user_id":"u","role":"officer","agency":"a"},"occurred_at":"2026-01-02T03:04:05Z","recorded_at":"2026-01-02T03:04:05Z","source_system":"x","compartment":"police","address":"12 rue Secret"}`)
	_, err := casefile.Decode(r)
	if !errors.Is(err, domain.ErrMalformed) || strings.Contains(err.Error(), "Secret") {
		t.Fatalf("unknown metadata field: %v", err)
	}
}
