package domain_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and are run by every
// plain `go test`; `go test -fuzz=FuzzUnmarshalEvent ./domain` explores from
// them. CASELEDGER_WRITE_CORPUS=1 rewrites them from generated cases.

// FuzzUnmarshalEvent: arbitrary bytes never panic the decoder, and whatever
// it accepts encodes and decodes again to the same event.
func FuzzUnmarshalEvent(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b","case_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c","type":"case.risk_assessment_completed","schema_version":1,"meta":{},"data":{"level":"moderate"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := domain.UnmarshalEvent(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		again, err := domain.MarshalEvent(e)
		if err != nil {
			t.Fatalf("accepted event does not encode: %v", err)
		}
		back, err := domain.UnmarshalEvent(again)
		if err != nil {
			t.Fatalf("re-encoded event refused: %v", err)
		}
		if !reflect.DeepEqual(utc(back), utc(e)) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, back)
		}
	})
}

// FuzzDecideCommand: arbitrary command bytes under any command name never
// panic the decoder or Decide, on a new case or on a generated one.
func FuzzDecideCommand(f *testing.F) {
	cases, err := gen.New(1).Cases(1)
	if err != nil {
		f.Fatal(err)
	}
	var mid domain.State
	steps := cases[0].Steps
	for _, s := range steps[:len(steps)/2] {
		for _, e := range s.Events {
			mid = domain.Evolve(mid, e)
		}
	}
	now := steps[len(steps)/2].Now
	f.Add(uint8(0), []byte(`{}`))
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		names := domain.CommandNames()
		cmd, err := domain.DecodeCommand(names[int(which)%len(names)], b)
		if err != nil {
			return
		}
		for _, s := range []domain.State{{}, mid} {
			events, err := domain.Decide(s, cmd, now)
			if err == nil && len(events) == 0 {
				t.Fatal("accepted with no event")
			}
			for _, e := range events {
				if _, err := domain.MarshalEvent(e); err != nil {
					t.Fatalf("decided event does not encode: %v", err)
				}
			}
		}
	})
}

func utc(e domain.Event) domain.Event {
	e.Meta.OccurredAt = e.Meta.OccurredAt.UTC()
	e.Meta.RecordedAt = e.Meta.RecordedAt.UTC()
	return e
}

// TestWriteFuzzCorpus regenerates the seed corpora. It only runs when asked.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CASELEDGER_WRITE_CORPUS") == "" {
		t.Skip("set CASELEDGER_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	cases, err := gen.New(11).Cases(30)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string][]byte{}
	commands := map[string][]byte{}
	for _, c := range cases {
		for _, s := range c.Steps {
			name, b, err := domain.EncodeCommand(s.Command)
			if err != nil {
				t.Fatal(err)
			}
			commands[name] = b
			for _, e := range s.Events {
				b, err := domain.MarshalEvent(e)
				if err != nil {
					t.Fatal(err)
				}
				events[e.Type()] = b
			}
		}
	}
	write := func(dir, name, body string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for typ, b := range events {
		write("testdata/fuzz/FuzzUnmarshalEvent", typ, fmt.Sprintf("[]byte(%s)\n", strconv.Quote(string(b))))
	}
	names := domain.CommandNames()
	for i, n := range names {
		if b, ok := commands[n]; ok {
			write("testdata/fuzz/FuzzDecideCommand", n, fmt.Sprintf("uint8(%d)\n[]byte(%s)\n", i, strconv.Quote(string(b))))
		}
	}
}
