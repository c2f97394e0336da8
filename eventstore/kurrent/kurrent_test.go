package kurrent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/kurrent"
	"github.com/caseledger/caseledger/eventstore/kurrent/internal/kurrentfake"
	"github.com/caseledger/caseledger/eventstore/storetest"
	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
)

// startFake starts a fake KurrentDB for one test. Its maximum append size is
// raised from KurrentDB's 1 MiB default to what caseledger's contract needs
// (events up to eventstore.MaxEventSize): a production node must be
// configured the same way (--max-append-size).
func startFake(t *testing.T) *kurrentfake.Server {
	t.Helper()
	srv, err := kurrentfake.Start(kurrentfake.Options{MaxAppendSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func open(t *testing.T, connectionString string) *kurrent.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := kurrent.Open(ctx, connectionString)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceAgainstFake(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		return open(t, startFake(t).ConnectionString())
	}, storetest.Options{})
}

// TestConformanceAgainstRealServer runs the suite against the KurrentDB (or
// EventStoreDB) named by CASELEDGER_TEST_KURRENTDB. The suite writes fresh
// case-<uuid> streams and only looks at its own, so a shared server will do;
// it needs a user that may read $all, and --max-append-size of at least
// 2 MiB for the large-event test.
func TestConformanceAgainstRealServer(t *testing.T) {
	cs := os.Getenv("CASELEDGER_TEST_KURRENTDB")
	if cs == "" {
		t.Skip("CASELEDGER_TEST_KURRENTDB is not set: no KurrentDB to test against " +
			"(set it to a connection string such as kurrentdb://admin:changeit@127.0.0.1:2113?tls=false)")
	}
	storetest.Run(t, func(t *testing.T) eventstore.Store { return open(t, cs) }, storetest.Options{})
}

// TestStoredMetadataWrapper checks what KurrentDB holds: the caller's
// metadata bytes, exactly, inside a JSON wrapper with the chain link, and the
// same bytes back through ReadStream.
func TestStoredMetadataWrapper(t *testing.T) {
	srv := startFake(t)
	s := open(t, srv.ConnectionString())
	defer s.Close()
	ctx := context.Background()
	stream := storetest.Stream()
	metas := [][]byte{
		[]byte(" {\"actor\" : \"x\",\n\t\"note\":\"<&> é \\u00e9\"} "),
		[]byte(`null`),
		nil,
		[]byte(`[1,2.50,"three"]`),
	}
	events := storetest.Events(len(metas))
	for i := range events {
		events[i].Metadata = metas[i]
	}
	res, err := s.Append(ctx, stream, eventstore.NoStream, events)
	if err != nil {
		t.Fatal(err)
	}

	// What the server holds, read with the client directly.
	raw := rawEvents(t, srv, stream)
	prev := eventstore.Hash{}
	for i, e := range raw {
		var w struct {
			Chain struct {
				Prev eventstore.Hash `json:"prev"`
				Hash eventstore.Hash `json:"hash"`
			} `json:"chain"`
			Meta json.RawMessage `json:"meta"`
		}
		if err := json.Unmarshal(e.UserMetadata, &w); err != nil {
			t.Fatalf("event %d: stored metadata is not JSON: %v", i, err)
		}
		if e.ContentType != "application/json" || e.EventID != events[i].ID || e.EventType != events[i].Type || !bytes.Equal(e.Data, events[i].Data) {
			t.Fatalf("event %d stored as %s %s %s", i, e.EventID, e.EventType, e.ContentType)
		}
		want := eventstore.ChainHash(prev, stream, int64(i), events[i])
		if w.Chain.Prev != prev || w.Chain.Hash != want {
			t.Fatalf("event %d: stored chain link differs", i)
		}
		if metas[i] == nil && w.Meta != nil {
			t.Fatalf("event %d: no metadata stored as %q", i, w.Meta)
		}
		if metas[i] != nil && !bytes.Contains(e.UserMetadata, append([]byte(`,"meta":`), metas[i]...)) {
			t.Fatalf("event %d: caller's bytes not stored verbatim: %q", i, e.UserMetadata)
		}
		prev = want
	}
	if res.Hash != prev {
		t.Fatal("append result hash is not the last stored link")
	}

	got, err := s.ReadStream(ctx, stream, 0, 10)
	if err != nil || len(got) != len(metas) {
		t.Fatalf("read back: %d records, %v", len(got), err)
	}
	for i, r := range got {
		if !bytes.Equal(r.Metadata, metas[i]) || (metas[i] == nil) != (r.Metadata == nil) {
			t.Fatalf("event %d metadata: got %q, want %q", i, r.Metadata, metas[i])
		}
	}
	if b := eventstore.VerifyStream(got); b != nil {
		t.Fatal(b)
	}
}

// TestOtherEventsInAll checks that $all's system events and other
// applications' streams stay out of the global log, and that an event whose
// metadata is not caseledger's wrapper reads as corrupt.
func TestOtherEventsInAll(t *testing.T) {
	srv := startFake(t)
	s := open(t, srv.ConnectionString())
	defer s.Close()
	ctx := context.Background()
	client := rawClient(t, srv)
	foreign := func(stream, typ string, meta []byte) {
		t.Helper()
		_, err := client.AppendToStream(ctx, stream, kurrentdb.AppendToStreamOptions{}, kurrentdb.EventData{
			EventID: uuid.New(), EventType: typ, ContentType: kurrentdb.ContentTypeJson, Data: []byte(`{}`), Metadata: meta,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	foreign("orders-1", "OrderPlaced", nil)
	stream := storetest.Stream()
	mine := storetest.Events(3)
	if _, err := s.Append(ctx, stream, eventstore.NoStream, mine[:2]); err != nil {
		t.Fatal(err)
	}
	foreign("$$"+stream, "$metadata", nil)
	foreign("casefile-other", "x", nil)
	if _, err := s.Append(ctx, stream, eventstore.Exact(1), mine[2:]); err != nil {
		t.Fatal(err)
	}

	all, err := s.ReadAll(ctx, eventstore.Start, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("ReadAll: %d records, want only caseledger's 3", len(all))
	}
	for i, r := range all {
		if r.ID != mine[i].ID {
			t.Fatalf("ReadAll record %d is %s %s", i, r.Stream, r.Type)
		}
	}
	one, err := s.ReadAll(ctx, all[0].Position, 1)
	if err != nil || len(one) != 1 || one[0].ID != mine[1].ID {
		t.Fatalf("ReadAll after the first, one: %v %v", one, err)
	}

	c, cancel := context.WithCancel(ctx)
	defer cancel()
	var seen []uuid.UUID
	err = s.SubscribeAll(c, eventstore.Start, func(r eventstore.Record) error {
		seen = append(seen, r.ID)
		if len(seen) == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || len(seen) != 3 || seen[2] != mine[2].ID {
		t.Fatalf("SubscribeAll: %v, saw %d", err, len(seen))
	}

	// Someone writes to a case stream without the wrapper.
	bad := storetest.Stream()
	foreign(bad, "case.note", []byte(`{"actor":"someone"}`))
	if _, err := s.ReadStream(ctx, bad, 0, 10); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("unwrapped metadata: %v", err)
	}
	// Nor can an append be chained onto it.
	if _, err := s.Append(ctx, bad, eventstore.Any, storetest.Events(1)); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("append after unwrapped metadata: %v", err)
	}
}

// TestServerLimits checks that an append over the server's maximum append
// size (KurrentDB's default here) fails as an invalid event and writes
// nothing, and that "$" types are refused before any I/O.
func TestServerLimits(t *testing.T) {
	srv, err := kurrentfake.Start(kurrentfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	s := open(t, srv.ConnectionString())
	defer s.Close()
	ctx := context.Background()
	stream := storetest.Stream()
	big := storetest.Events(2)
	for i := range big {
		big[i].Data = []byte(`{"blob":"` + strings.Repeat("x", 600_000) + `"}`)
	}
	_, err = s.Append(ctx, stream, eventstore.NoStream, big)
	if err == nil {
		t.Fatal("append over the maximum append size accepted")
	}
	if bytes.Contains([]byte(err.Error()), []byte("xxxx")) {
		t.Fatal("error carries event data")
	}
	t.Logf("over the limit: %v", err)
	if got, err := s.ReadStream(ctx, stream, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("refused append wrote %d events (%v)", len(got), err)
	}
	sys := storetest.Events(1)
	sys[0].Type = "$metadata"
	if _, err := s.Append(ctx, stream, eventstore.Any, sys); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Fatalf("$ type: %v", err)
	}
}

func TestOpenFailsWithoutServer(t *testing.T) {
	srv, err := kurrentfake.Start(kurrentfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := srv.ConnectionString() + "&maxDiscoverAttempts=2"
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if s, err := kurrent.Open(ctx, cs); err == nil {
		s.Close()
		t.Fatal("Open succeeded with no server")
	}
	if _, err := kurrent.Open(ctx, "kurrentdb://user:secret@[::1"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad connection string: %v", err)
	}
}

func TestClosed(t *testing.T) {
	s := open(t, startFake(t).ConnectionString())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Append(ctx, storetest.Stream(), eventstore.Any, storetest.Events(1)); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := s.ReadAll(ctx, eventstore.Start, 1); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("read all after close: %v", err)
	}
	if err := s.SubscribeAll(ctx, eventstore.Start, func(eventstore.Record) error { return nil }); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
}

func rawClient(t *testing.T, srv *kurrentfake.Server) *kurrentdb.Client {
	t.Helper()
	config, err := kurrentdb.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		t.Fatal(err)
	}
	config.Logger = kurrentdb.NoopLogging()
	c, err := kurrentdb.NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rawEvents(t *testing.T, srv *kurrentfake.Server, stream string) []*kurrentdb.RecordedEvent {
	t.Helper()
	rs, err := rawClient(t, srv).ReadStream(context.Background(), stream, kurrentdb.ReadStreamOptions{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []*kurrentdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev.Event)
	}
}
