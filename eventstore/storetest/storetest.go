// Package storetest is the conformance suite of the eventstore contract.
// Every backend runs it: a backend is done when Run passes against the real
// thing. Tests use fresh case-<uuid> streams and only look at the streams
// they wrote, so the suite can also run against a shared server.
//
// It imports the contract only, never a backend: each backend's own test
// calls Run with its constructor, so the suite cannot come to rely on one
// backend's behaviour. It never assumes the store is empty or its own, and
// a guarantee only some backends give is an Option the suite checks when
// set, never a test a backend skips. Only test code imports it.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/google/uuid"
)

// Open returns a store for one test; the suite closes it.
type Open func(t *testing.T) eventstore.Store

// Options say what a backend guarantees beyond the common contract.
type Options struct {
	// GlobalEventIDs: an event id stored in one stream is refused in any
	// other (ErrDuplicateEventID). SQLite enforces it with UNIQUE(event_id);
	// EventStoreDB/KurrentDB has no index by event id and only recognises
	// ids within a stream. Both refuse a reused id within a stream.
	GlobalEventIDs bool
}

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Open, opts Options) {
	tests := []struct {
		name string
		fn   func(*testing.T, eventstore.Store, Options)
	}{
		{"Versions", testVersions},
		{"WrongExpectedVersion", testWrongVersion},
		{"ConcurrentWriters", testConcurrentWriters},
		{"IdempotentRetry", testIdempotentRetry},
		{"AtomicAppend", testAtomicAppend},
		{"InvalidInput", testInvalidInput},
		{"GlobalOrder", testGlobalOrder},
		{"SubscribeCatchUpToLive", testSubscribe},
		{"LargeEvents", testLargeEvents},
		{"ExactBytes", testExactBytes},
		{"ManyStreams", testManyStreams},
		{"ChainContinuity", testChain},
		{"ContextCancellation", testCancellation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tt.fn(t, s, opts)
		})
	}
}

// Stream returns a fresh case stream name.
func Stream() string { return "case-" + uuid.New().String() }

// Events returns n events of type test.event with small JSON bodies.
func Events(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = eventstore.EventData{
			ID:       uuid.New(),
			Type:     "test.event",
			Data:     []byte(fmt.Sprintf(`{"n":%d,"note":"event %d"}`, i, i)),
			Metadata: []byte(`{"actor":"storetest"}`),
		}
	}
	return out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustAppend(t *testing.T, s eventstore.Store, stream string, exp eventstore.ExpectedVersion, events []eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctx(t), stream, exp, events)
	if err != nil {
		t.Fatalf("append to %s (expected %s): %v", stream, exp, err)
	}
	return res
}

func readStream(t *testing.T, s eventstore.Store, stream string) []eventstore.Record {
	t.Helper()
	var out []eventstore.Record
	for from := int64(0); ; {
		page, err := s.ReadStream(ctx(t), stream, from, 100)
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		out = append(out, page...)
		if len(page) < 100 {
			return out
		}
		from = page[len(page)-1].Version + 1
	}
}

// readOwn reads the global log after pos and keeps the records of streams.
func readOwn(t *testing.T, s eventstore.Store, after eventstore.Position, streams map[string]bool) []eventstore.Record {
	t.Helper()
	var out []eventstore.Record
	for {
		page, err := s.ReadAll(ctx(t), after, 500)
		if err != nil {
			t.Fatalf("read all: %v", err)
		}
		for _, r := range page {
			if streams[r.Stream] {
				out = append(out, r)
			}
		}
		if len(page) < 500 {
			return out
		}
		after = page[len(page)-1].Position
	}
}

func sameEvent(t *testing.T, r eventstore.Record, e eventstore.EventData) {
	t.Helper()
	if r.ID != e.ID || r.Type != e.Type || !bytes.Equal(r.Data, e.Data) || !bytes.Equal(r.Metadata, e.Metadata) {
		t.Fatalf("stored event differs from appended:\nstored   %s %s %q %q\nappended %s %s %q %q", r.ID, r.Type, r.Data, r.Metadata, e.ID, e.Type, e.Data, e.Metadata)
	}
}

func testVersions(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	if got, err := s.ReadStream(ctx(t), stream, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("unknown stream: %v %v", got, err)
	}
	first := Events(3)
	res := mustAppend(t, s, stream, eventstore.NoStream, first)
	if res.FirstVersion != 0 || res.LastVersion != 2 || res.Duplicate || res.Stream != stream {
		t.Fatalf("first append: %+v", res)
	}
	more := Events(2)
	res = mustAppend(t, s, stream, eventstore.Exact(2), more)
	if res.FirstVersion != 3 || res.LastVersion != 4 {
		t.Fatalf("second append: %+v", res)
	}
	res = mustAppend(t, s, stream, eventstore.Any, Events(1))
	if res.FirstVersion != 5 || res.LastVersion != 5 {
		t.Fatalf("any append: %+v", res)
	}
	all := readStream(t, s, stream)
	if len(all) != 6 {
		t.Fatalf("read %d events, want 6", len(all))
	}
	for i, r := range all {
		if r.Version != int64(i) || r.Stream != stream || r.RecordedAt.IsZero() {
			t.Fatalf("event %d: version %d stream %s recorded %v", i, r.Version, r.Stream, r.RecordedAt)
		}
	}
	sameEvent(t, all[0], first[0])
	sameEvent(t, all[4], more[1])
	tail, err := s.ReadStream(ctx(t), stream, 4, 10)
	if err != nil || len(tail) != 2 || tail[0].Version != 4 {
		t.Fatalf("read from 4: %d events, %v", len(tail), err)
	}
	one, err := s.ReadStream(ctx(t), stream, 1, 1)
	if err != nil || len(one) != 1 || one[0].Version != 1 {
		t.Fatalf("read one from 1: %v %v", one, err)
	}
	if past, err := s.ReadStream(ctx(t), stream, 6, 10); err != nil || len(past) != 0 {
		t.Fatalf("read past the end: %v %v", past, err)
	}
}

func wantWrong(t *testing.T, err error, exp eventstore.ExpectedVersion, actual int64) {
	t.Helper()
	var wv *eventstore.WrongVersionError
	if !errors.Is(err, eventstore.ErrWrongVersion) || !errors.As(err, &wv) {
		t.Fatalf("got %v, want a wrong expected version error", err)
	}
	if wv.Expected != exp || wv.Actual != actual {
		t.Fatalf("got expected %s actual %d, want %s and %d", wv.Expected, wv.Actual, exp, actual)
	}
}

func testWrongVersion(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	_, err := s.Append(ctx(t), stream, eventstore.Exact(0), Events(1))
	wantWrong(t, err, eventstore.Exact(0), -1)
	mustAppend(t, s, stream, eventstore.NoStream, Events(3))
	_, err = s.Append(ctx(t), stream, eventstore.NoStream, Events(1))
	wantWrong(t, err, eventstore.NoStream, 2)
	_, err = s.Append(ctx(t), stream, eventstore.Exact(1), Events(1))
	wantWrong(t, err, eventstore.Exact(1), 2)
	_, err = s.Append(ctx(t), stream, eventstore.Exact(7), Events(1))
	wantWrong(t, err, eventstore.Exact(7), 2)
	if n := len(readStream(t, s, stream)); n != 3 {
		t.Fatalf("refused appends wrote: %d events", n)
	}
}

// testConcurrentWriters races writers that each read the stream's version
// and append one event at that exact version: every round exactly one wins,
// the losers get wrong-version errors, and the stream has no gap.
func testConcurrentWriters(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	mustAppend(t, s, stream, eventstore.NoStream, Events(1))
	const writers, rounds = 8, 10
	var mu sync.Mutex
	wins, conflicts := 0, 0
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				recs, err := s.ReadStream(ctx(t), stream, 0, 10_000)
				if err != nil {
					t.Error(err)
					return
				}
				last := recs[len(recs)-1].Version
				_, err = s.Append(ctx(t), stream, eventstore.Exact(last), Events(1))
				mu.Lock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, eventstore.ErrWrongVersion):
					conflicts++
				default:
					t.Error(err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	all := readStream(t, s, stream)
	if len(all) != wins+1 {
		t.Fatalf("%d wins but %d events", wins, len(all)-1)
	}
	if wins+conflicts != writers*rounds || wins == 0 {
		t.Fatalf("wins %d conflicts %d", wins, conflicts)
	}
	if b := eventstore.VerifyStream(all); b != nil {
		t.Fatal(b)
	}
}

func testIdempotentRetry(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	batch := Events(2)
	res := mustAppend(t, s, stream, eventstore.NoStream, batch)
	again := mustAppend(t, s, stream, eventstore.NoStream, batch)
	if !again.Duplicate || again.FirstVersion != res.FirstVersion || again.LastVersion != res.LastVersion || again.Position != res.Position || again.Hash != res.Hash {
		t.Fatalf("retry: %+v, first: %+v", again, res)
	}
	mustAppend(t, s, stream, eventstore.Exact(1), Events(1))
	// The expectation is now stale, but the ids are stored: the stored
	// result comes back and nothing is written.
	stale := mustAppend(t, s, stream, eventstore.NoStream, batch)
	if !stale.Duplicate || stale.LastVersion != 1 {
		t.Fatalf("stale retry: %+v", stale)
	}
	if anyRetry := mustAppend(t, s, stream, eventstore.Any, batch); !anyRetry.Duplicate {
		t.Fatalf("any retry wrote: %+v", anyRetry)
	}
	if n := len(readStream(t, s, stream)); n != 3 {
		t.Fatalf("retries wrote: %d events, want 3", n)
	}
	// The same ids in part, or in another stream, are not a retry.
	mixed := []eventstore.EventData{batch[0], Events(1)[0]}
	if _, err := s.Append(ctx(t), stream, eventstore.Any, mixed); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("partial retry: %v", err)
	}
	if opts.GlobalEventIDs {
		if _, err := s.Append(ctx(t), Stream(), eventstore.Any, batch); !errors.Is(err, eventstore.ErrDuplicateEventID) {
			t.Fatalf("ids reused in another stream: %v", err)
		}
	}
	if n := len(readStream(t, s, stream)); n != 3 {
		t.Fatalf("refused retries wrote: %d events, want 3", n)
	}
}

func testAtomicAppend(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	stored := Events(1)
	mustAppend(t, s, stream, eventstore.NoStream, stored)
	// The third event reuses an id stored in the stream: the whole append is
	// refused and none of the first two is written.
	batch := Events(3)
	batch[2].ID = stored[0].ID
	if _, err := s.Append(ctx(t), stream, eventstore.Any, batch); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("append reusing a stored id: %v", err)
	}
	if got := readStream(t, s, stream); len(got) != 1 {
		t.Fatalf("refused append left %d events", len(got)-1)
	}
	if opts.GlobalEventIDs {
		other := Stream()
		if _, err := s.Append(ctx(t), other, eventstore.Any, batch); !errors.Is(err, eventstore.ErrDuplicateEventID) {
			t.Fatalf("append reusing an id of another stream: %v", err)
		}
		if got := readStream(t, s, other); len(got) != 0 {
			t.Fatalf("refused append left %d events", len(got))
		}
	}
	// A conflicting multi-event append writes nothing either.
	if _, err := s.Append(ctx(t), stream, eventstore.NoStream, Events(5)); !errors.Is(err, eventstore.ErrWrongVersion) {
		t.Fatalf("conflict: %v", err)
	}
	if got := readStream(t, s, stream); len(got) != 1 {
		t.Fatalf("conflicting append left %d events", len(got))
	}
	five := Events(5)
	res := mustAppend(t, s, stream, eventstore.Exact(0), five)
	if res.FirstVersion != 1 || res.LastVersion != 5 {
		t.Fatalf("multi-event append: %+v", res)
	}
}

func testInvalidInput(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	good := Events(1)
	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
		err    error
	}{
		{"empty stream", "", good, eventstore.ErrInvalidStream},
		{"upper case", "Case-1", good, eventstore.ErrInvalidStream},
		{"not a uuid", "case-123", good, eventstore.ErrInvalidStream},
		{"space", "case " + uuid.NewString(), good, eventstore.ErrInvalidStream},
		{"bad date", "access-2026-13-40", good, eventstore.ErrInvalidStream},
		{"long", strings.Repeat("a", 300), good, eventstore.ErrInvalidStream},
		{"no events", stream, nil, eventstore.ErrInvalidEvent},
		{"nil id", stream, []eventstore.EventData{{Type: "t", Data: []byte(`{}`)}}, eventstore.ErrInvalidEvent},
		{"no type", stream, []eventstore.EventData{{ID: uuid.New(), Data: []byte(`{}`)}}, eventstore.ErrInvalidEvent},
		{"not json", stream, []eventstore.EventData{{ID: uuid.New(), Type: "t", Data: []byte(`{"a":`)}}, eventstore.ErrInvalidEvent},
		{"bad metadata", stream, []eventstore.EventData{{ID: uuid.New(), Type: "t", Data: []byte(`{}`), Metadata: []byte("\xff")}}, eventstore.ErrInvalidEvent},
		{"same id twice", stream, []eventstore.EventData{good[0], good[0]}, eventstore.ErrInvalidEvent},
		{"too large", stream, []eventstore.EventData{{ID: uuid.New(), Type: "t", Data: []byte(`"` + strings.Repeat("x", eventstore.MaxEventSize) + `"`)}}, eventstore.ErrInvalidEvent},
	}
	for _, c := range cases {
		if _, err := s.Append(ctx(t), c.stream, eventstore.Any, c.events); !errors.Is(err, c.err) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.err)
		}
	}
	if got := readStream(t, s, stream); len(got) != 0 {
		t.Fatalf("invalid appends wrote %d events", len(got))
	}
	if _, err := eventstore.ParsePosition("12"); !errors.Is(err, eventstore.ErrInvalidPosition) {
		t.Errorf("bad position: %v", err)
	}
}

func testGlobalOrder(t *testing.T, s eventstore.Store, opts Options) {
	a, b, c := Stream(), Stream(), Stream()
	start := mustAppend(t, s, "ledger-checkpoints-"+uuid.NewString()[:8], eventstore.Any, Events(1)).Position
	var want []uuid.UUID
	for i := range 5 {
		for _, st := range []string{a, b, c} {
			ev := Events(1 + i%2)
			mustAppend(t, s, st, eventstore.Any, ev)
			for _, e := range ev {
				want = append(want, e.ID)
			}
		}
	}
	got := readOwn(t, s, start, map[string]bool{a: true, b: true, c: true})
	if len(got) != len(want) {
		t.Fatalf("read %d events after the start, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.ID != want[i] {
			t.Fatalf("global order differs at %d", i)
		}
		if i > 0 && !got[i-1].Position.Less(r.Position) {
			t.Fatalf("positions not increasing at %d: %s then %s", i, got[i-1].Position, r.Position)
		}
	}
	// Positions survive a checkpoint round trip, and reading after one is
	// exclusive.
	mid := got[6].Position
	text, _ := mid.MarshalText()
	var back eventstore.Position
	if err := back.UnmarshalText(text); err != nil || back != mid {
		t.Fatalf("position round trip: %v %v", back, err)
	}
	after := readOwn(t, s, back, map[string]bool{a: true, b: true, c: true})
	if len(after) != len(want)-7 || after[0].ID != want[7] {
		t.Fatalf("read after %s: %d events", back, len(after))
	}
	// The zero position reads from the start of the log.
	first, err := s.ReadAll(ctx(t), eventstore.Start, 1)
	if err != nil || len(first) != 1 || !eventstore.Start.Less(first[0].Position) {
		t.Fatalf("read from start: %v %v", first, err)
	}
}

// testSubscribe writes events before subscribing and while the subscription
// catches up, and checks that every one arrives once, in order.
func testSubscribe(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	start := mustAppend(t, s, "ledger-checkpoints-"+uuid.NewString()[:8], eventstore.Any, Events(1)).Position
	before := Events(150)
	for i := 0; i < len(before); i += 10 {
		mustAppend(t, s, stream, eventstore.Any, before[i:i+10])
	}
	during := Events(150)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	var got []eventstore.Record
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(c, start, func(r eventstore.Record) error {
			if r.Stream != stream {
				return nil
			}
			got = append(got, r)
			if len(got) == len(before)+len(during) {
				cancel()
			}
			return nil
		})
	}()
	for i := 0; i < len(during); i += 5 {
		mustAppend(t, s, stream, eventstore.Any, during[i:i+5])
	}
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("subscription ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("subscription delivered %d of %d events in 30s", len(got), len(before)+len(during))
	}
	all := append(before, during...)
	for i, r := range got {
		if r.ID != all[i].ID || r.Version != int64(i) {
			t.Fatalf("subscription event %d: got version %d id %s, want %s", i, r.Version, r.ID, all[i].ID)
		}
	}
	// From a middle position, it starts right after it; fn's error ends it.
	stop := errors.New("stop")
	var firstSeen eventstore.Record
	err := s.SubscribeAll(ctx(t), got[99].Position, func(r eventstore.Record) error {
		firstSeen = r
		return stop
	})
	if !errors.Is(err, stop) || firstSeen.ID != all[100].ID {
		t.Fatalf("subscribe from the middle: %v, first %s", err, firstSeen.ID)
	}
}

func testLargeEvents(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	big := Events(2)
	big[0].Data = []byte(`{"blob":"` + strings.Repeat("abcdefghij", 100_000) + `"}`)
	big[1].Metadata = []byte(`{"m":"` + strings.Repeat("z", 200_000) + `"}`)
	mustAppend(t, s, stream, eventstore.NoStream, big)
	got := readStream(t, s, stream)
	if len(got) != 2 {
		t.Fatalf("read %d", len(got))
	}
	sameEvent(t, got[0], big[0])
	sameEvent(t, got[1], big[1])
}

func testExactBytes(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	ev := Events(3)
	ev[0].Data = []byte("{ \"spaced\" :  1 ,\n\t\"order\":\"kept\"}")
	ev[1].Data = []byte(`{"unicode":"Montréal — 日本 \u00e9","escaped":"\"q\""}`)
	ev[2].Metadata = nil
	mustAppend(t, s, stream, eventstore.NoStream, ev)
	got := readStream(t, s, stream)
	for i := range ev {
		if !bytes.Equal(got[i].Data, ev[i].Data) || len(got[i].Metadata) != len(ev[i].Metadata) {
			t.Fatalf("event %d bytes changed: %q", i, got[i].Data)
		}
	}
}

func testManyStreams(t *testing.T, s eventstore.Store, opts Options) {
	streams := make([]string, 300)
	for i := range streams {
		streams[i] = Stream()
		mustAppend(t, s, streams[i], eventstore.NoStream, Events(1+i%3))
	}
	for i, st := range streams {
		if n := len(readStream(t, s, st)); n != 1+i%3 {
			t.Fatalf("stream %d has %d events", i, n)
		}
	}
}

func testChain(t *testing.T, s eventstore.Store, opts Options) {
	a, b := Stream(), Stream()
	start := mustAppend(t, s, "ledger-checkpoints-"+uuid.NewString()[:8], eventstore.Any, Events(1)).Position
	var last eventstore.AppendResult
	for i := range 6 {
		mustAppend(t, s, b, eventstore.Any, Events(1))
		last = mustAppend(t, s, a, eventstore.Any, Events(1+i%3))
	}
	recs := readStream(t, s, a)
	if recs[0].PrevHash != (eventstore.Hash{}) {
		t.Fatal("first event has a previous hash")
	}
	for i, r := range recs {
		if i > 0 && r.PrevHash != recs[i-1].Hash {
			t.Fatalf("link %d does not point at %d", i, i-1)
		}
		if r.Link(r.PrevHash) != r.Hash {
			t.Fatalf("event %d hash is not the chain hash of its bytes", i)
		}
	}
	if last.Hash != recs[len(recs)-1].Hash {
		t.Fatal("append result hash is not the last event's")
	}
	if br := eventstore.VerifyStream(recs); br != nil {
		t.Fatal(br)
	}
	v := eventstore.NewVerifier()
	for _, r := range readOwn(t, s, start, map[string]bool{a: true, b: true}) {
		if br := v.Add(r); br != nil {
			t.Fatal(br)
		}
	}
	if v.Streams != 2 || v.Events != int64(len(recs))+6 {
		t.Fatalf("verifier saw %d streams, %d events", v.Streams, v.Events)
	}
	// A record altered in memory no longer verifies, and the verifier names
	// the version.
	recs[3].Data = []byte(`{"n":999}`)
	if br := eventstore.VerifyStream(recs); br == nil || br.Version != 3 || br.Stream != a {
		t.Fatalf("altered record: %v", br)
	}
}

func testCancellation(t *testing.T, s eventstore.Store, opts Options) {
	stream := Stream()
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(c, stream, eventstore.Any, Events(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("append on a cancelled context: %v", err)
	}
	if _, err := s.ReadStream(c, stream, 0, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("read on a cancelled context: %v", err)
	}
	if _, err := s.ReadAll(c, eventstore.Start, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("read all on a cancelled context: %v", err)
	}
	if got := readStream(t, s, stream); len(got) != 0 {
		t.Fatalf("cancelled append wrote %d events", len(got))
	}
	// A live subscription returns promptly when its context ends.
	c2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	done := make(chan error, 1)
	go func() { done <- s.SubscribeAll(c2, eventstore.Start, func(eventstore.Record) error { return nil }) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("subscription ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("subscription did not end with its context")
	}
}
