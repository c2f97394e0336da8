// Package kurrent is caseledger's record on KurrentDB (or EventStoreDB),
// through the official Go client over gRPC: the production backend of the
// eventstore contract.
//
// Streams map one to one: caseledger's stream "case-<uuid>" is KurrentDB's
// stream "case-<uuid>". Event ids are KurrentDB event ids, types are event
// types, data is stored as application/json, and the stored metadata wraps the
// caller's exact metadata bytes with the event's link in its stream's hash
// chain (see encodeMeta). The global log is KurrentDB's $all restricted to
// caseledger's streams ("case-", "access-", "ledger-checkpoints" prefixes) and
// without system events ("$" types); a Position is KurrentDB's commit and
// prepare position.
//
// Appends write at an exact revision that this package reads first, so that
// the chain it computes is the chain that lands; a concurrent writer makes
// KurrentDB refuse the append rather than fork the chain.
//
// This package must never hash re-encoded JSON, never log, and never put
// event data in an error.
package kurrent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var _ eventstore.Store = (*Store)(nil)

// prefixes are the stream-name prefixes of caseledger's streams in $all.
var prefixes = []string{"case-", "access-", "ledger-checkpoints"}

const (
	// appendAttempts bounds how often an append with expectation Any is
	// retried when another writer moved the stream between the read of its
	// tail and the write.
	appendAttempts = 5
	// retryWindow is how many of a stream's last events an append with
	// expectation Any searches for its event ids: KurrentDB has no index by
	// event id, so a retry is recognised only while its events are among
	// the stream's last retryWindow events. Exact expectations need no
	// search: the events of a retry are where the expectation says.
	retryWindow = 256
	// allPage is how many events of $all one read fetches; most of $all may
	// be other applications' or system events, filtered out here.
	allPage = 512
)

// Store is a caseledger record on a KurrentDB node or cluster. It is safe for
// concurrent use.
type Store struct {
	config *kurrentdb.Configuration

	mu     sync.RWMutex
	client *kurrentdb.Client
	closed bool
}

// Open connects to the KurrentDB given by connectionString (kurrentdb://…,
// esdb://…, or their +discover forms for a cluster) and checks that it
// answers a read.
//
// Errors: a malformed connection string (without echoing it, since it may
// hold a password), the context's error, and the client's connection errors
// wrapped.
func Open(ctx context.Context, connectionString string) (*Store, error) {
	config, err := kurrentdb.ParseConnectionString(connectionString)
	if err != nil {
		return nil, errors.New("kurrent: connection string is not a valid kurrentdb:// or esdb:// URL")
	}
	// The client logs to the standard logger by default; errors come back
	// to the caller, who logs them once at the edge.
	config.Logger = kurrentdb.NoopLogging()
	client, err := kurrentdb.NewClient(config)
	if err != nil {
		return nil, fmt.Errorf("kurrent: configure client: %w", err)
	}
	s := &Store{config: config, client: client}
	// The client connects lazily; connect now so that a wrong address or
	// credentials fail here and not at the first append.
	if _, err := s.readBackwards(ctx, "ledger-checkpoints", 1); err != nil {
		client.Close()
		return nil, fmt.Errorf("kurrent: connect: %w", err)
	}
	return s, nil
}

// Close releases the connection. Calls in flight and later fail with
// eventstore.ErrClosed; an append in flight may still have been written, and
// its retry is then recognised as one.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.client.Close()
}

// conn returns the current client.
func (s *Store) conn() (*kurrentdb.Client, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	return s.client, nil
}

// fail turns a client error into this package's: the context's error when
// the context ended, ErrClosed when the store was closed, otherwise the
// client's error wrapped. A client that closed itself (it does after a
// failed discovery) is replaced, so that the store recovers once the server
// is back.
func (s *Store) fail(ctx context.Context, c *kurrentdb.Client, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("kurrent: %s: %w", what, ctxErr)
	}
	var ke *kurrentdb.Error
	if errors.As(err, &ke) && ke.Code() == kurrentdb.ErrorCodeConnectionClosed {
		s.mu.Lock()
		if !s.closed && s.client == c {
			if fresh, nerr := kurrentdb.NewClient(s.config); nerr == nil {
				_ = c.Close()
				s.client = fresh
			}
		}
		s.mu.Unlock()
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return fmt.Errorf("kurrent: %s: %w", what, eventstore.ErrClosed)
	}
	return fmt.Errorf("kurrent: %s: %w", what, err)
}

// Append implements eventstore.Store. It reads the stream's last event for
// its version and chain hash, recognises a retry of an append already stored
// (for an exact expectation at the versions it names; for Any among the
// stream's last retryWindow events), checks the expectation, and writes at
// the exact revision it read. KurrentDB cannot tell that an id is stored in
// another stream: such an id is written again.
//
// Errors: *eventstore.WrongVersionError, eventstore.ErrInvalidStream,
// eventstore.ErrInvalidEvent (also for a type starting with "$", which
// KurrentDB reserves for system events), eventstore.ErrDuplicateEventID,
// eventstore.ErrClosed, the context's error, and the client's errors wrapped.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	for i, e := range events {
		if strings.HasPrefix(e.Type, "$") {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %d type starts with $, reserved for KurrentDB's system events", eventstore.ErrInvalidEvent, i)
		}
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("kurrent: append to %s: %w", stream, err)
	}
	var conflict error
	for range appendAttempts {
		look := 1
		if expected == eventstore.Any {
			look = retryWindow
		}
		recent, err := s.readBackwards(ctx, stream, look)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("kurrent: append to %s: read its tail: %w", stream, err)
		}
		current, prev := int64(-1), eventstore.Hash{}
		if len(recent) > 0 {
			current, prev = recent[0].Version, recent[0].Hash
		}
		res, stored, err := s.findStored(ctx, stream, expected, current, recent, events)
		if err != nil || stored {
			return res, err
		}
		if err := expected.Check(stream, current); err != nil {
			return eventstore.AppendResult{}, err
		}
		res, err = s.write(ctx, stream, current, prev, events)
		if errors.Is(err, errConflict) {
			// Another writer got there first. For an exact expectation
			// the next round reports the version it left (or recognises
			// our own earlier write); for Any it tries again on top.
			conflict = err
			continue
		}
		return res, err
	}
	return eventstore.AppendResult{}, fmt.Errorf("kurrent: append to %s: %d attempts: %w", stream, appendAttempts, conflict)
}

// errConflict is the server refusing the exact revision an append was
// written at; Append reads the stream again and decides.
var errConflict = errors.New("stream moved between read and write")

// findStored recognises a retry: events already stored in stream, in order,
// return their stored result. Ids found stored in another arrangement are
// eventstore.ErrDuplicateEventID.
func (s *Store) findStored(ctx context.Context, stream string, expected eventstore.ExpectedVersion, current int64, recent []eventstore.Record, events []eventstore.EventData) (eventstore.AppendResult, bool, error) {
	var first int64
	switch {
	case expected == eventstore.Any:
		// Where would the retry's first event be? Wherever one of its ids
		// is, shifted by that event's index in the append.
		at := make(map[uuid.UUID]int64, len(recent))
		for _, r := range recent {
			at[r.ID] = r.Version
		}
		found := false
		for i, e := range events {
			if v, ok := at[e.ID]; ok {
				first, found = v-int64(i), true
				break
			}
		}
		if !found {
			return eventstore.AppendResult{}, false, nil
		}
	case int64(expected) < current:
		first = int64(expected) + 1 // also NoStream: -1 + 1
	default:
		return eventstore.AppendResult{}, false, nil
	}
	var got []eventstore.Record
	if first >= 0 {
		var err error
		if got, err = s.ReadStream(ctx, stream, first, len(events)); err != nil {
			return eventstore.AppendResult{}, false, fmt.Errorf("kurrent: append to %s: look for a retry: %w", stream, err)
		}
	}
	same, some := len(got) == len(events), false
	ids := make(map[uuid.UUID]bool, len(events))
	for _, e := range events {
		ids[e.ID] = true
	}
	for i, r := range got {
		same = same && r.ID == events[i].ID
		some = some || ids[r.ID]
	}
	switch {
	case same:
		last := got[len(got)-1]
		return eventstore.AppendResult{
			Stream:       stream,
			FirstVersion: got[0].Version,
			LastVersion:  last.Version,
			Position:     last.Position,
			Hash:         last.Hash,
			Duplicate:    true,
		}, true, nil
	case some || expected == eventstore.Any:
		// Any found one of the ids among the stream's recent events.
		return eventstore.AppendResult{}, false, fmt.Errorf("%w: %s holds some of the append's event ids, but not as this append", eventstore.ErrDuplicateEventID, stream)
	}
	return eventstore.AppendResult{}, false, nil
}

// write appends events after version current, chaining from prev.
func (s *Store) write(ctx context.Context, stream string, current int64, prev eventstore.Hash, events []eventstore.EventData) (eventstore.AppendResult, error) {
	c, err := s.conn()
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("kurrent: append to %s: %w", stream, err)
	}
	out := make([]kurrentdb.EventData, len(events))
	for i, e := range events {
		h := eventstore.ChainHash(prev, stream, current+1+int64(i), e)
		out[i] = kurrentdb.EventData{
			EventID:     e.ID,
			EventType:   e.Type,
			ContentType: kurrentdb.ContentTypeJson,
			Data:        e.Data,
			Metadata:    encodeMeta(prev, h, e.Metadata),
		}
		prev = h
	}
	var state kurrentdb.StreamState = kurrentdb.NoStream{}
	if current >= 0 {
		state = kurrentdb.StreamRevision{Value: uint64(current)}
	}
	wr, err := c.AppendToStream(ctx, stream, kurrentdb.AppendToStreamOptions{StreamState: state}, out...)
	if err != nil {
		var ke *kurrentdb.Error
		if errors.As(err, &ke) && ke.Code() == kurrentdb.ErrorCodeWrongExpectedVersion {
			return eventstore.AppendResult{}, errConflict
		}
		var st interface{ GRPCStatus() *status.Status }
		if ctx.Err() == nil && errors.As(err, &st) && st.GRPCStatus().Code() == codes.InvalidArgument {
			// The server's limits (maximum append size, event size):
			// retrying cannot help. KurrentDB's message names sizes and
			// ids, never data.
			return eventstore.AppendResult{}, fmt.Errorf("kurrent: append to %s: %w: refused by the server: %s", stream, eventstore.ErrInvalidEvent, st.GRPCStatus().Message())
		}
		return eventstore.AppendResult{}, s.fail(ctx, c, "append to "+stream, err)
	}
	res := eventstore.AppendResult{
		Stream:       stream,
		FirstVersion: current + 1,
		LastVersion:  current + int64(len(events)),
		// KurrentDB answers an append with the position of its last event.
		Position: eventstore.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition},
		Hash:     prev,
	}
	if res.Position == (eventstore.Position{}) {
		// An answer without a position: read the event back for it.
		got, err := s.ReadStream(ctx, stream, res.LastVersion, 1)
		if err != nil || len(got) != 1 || got[0].ID != events[len(events)-1].ID {
			return eventstore.AppendResult{}, fmt.Errorf("kurrent: append to %s: written, but its position cannot be read back: %w", stream, err)
		}
		res.Position = got[0].Position
	}
	return res, nil
}

// readBackwards returns up to n of stream's last events, newest first.
func (s *Store) readBackwards(ctx context.Context, stream string, n int) ([]eventstore.Record, error) {
	return s.read(ctx, stream, kurrentdb.ReadStreamOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, n)
}

// ReadStream implements eventstore.Store.
//
// Errors: eventstore.ErrInvalidStream, eventstore.ErrCorrupt for an event
// whose metadata is not caseledger's wrapper, eventstore.ErrClosed, the
// context's error, and the client's errors wrapped.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, limit int) ([]eventstore.Record, error) {
	if err := eventstore.ValidateStream(stream); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kurrent: read %s: %w", stream, err)
	}
	if limit <= 0 {
		return nil, nil
	}
	from = max(from, 0)
	return s.read(ctx, stream, kurrentdb.ReadStreamOptions{Direction: kurrentdb.Forwards, From: kurrentdb.StreamRevision{Value: uint64(from)}}, limit)
}

func (s *Store) read(ctx context.Context, stream string, opts kurrentdb.ReadStreamOptions, n int) ([]eventstore.Record, error) {
	c, err := s.conn()
	if err != nil {
		return nil, fmt.Errorf("kurrent: read %s: %w", stream, err)
	}
	rs, err := c.ReadStream(ctx, stream, opts, uint64(n))
	if err != nil {
		return nil, s.fail(ctx, c, "read "+stream, err)
	}
	defer rs.Close()
	var out []eventstore.Record
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var ke *kurrentdb.Error
		if errors.As(err, &ke) && ke.Code() == kurrentdb.ErrorCodeResourceNotFound {
			return nil, nil // an unknown stream reads as empty
		}
		if err != nil {
			return nil, s.fail(ctx, c, "read "+stream, err)
		}
		r, err := toRecord(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
}

// ReadAll implements eventstore.Store over $all, keeping caseledger's
// streams and leaving out system events. The Go client reads $all without a
// server-side filter, so other applications' events are read and dropped
// here: a database shared with busy neighbours makes this slower.
//
// Errors: eventstore.ErrCorrupt, eventstore.ErrClosed, the context's error,
// and the client's errors wrapped.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kurrent: read $all: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	c, err := s.conn()
	if err != nil {
		return nil, fmt.Errorf("kurrent: read $all: %w", err)
	}
	var out []eventstore.Record
	cursor, started := after, after != eventstore.Start
	for {
		var from kurrentdb.AllPosition = kurrentdb.Start{}
		if started {
			// KurrentDB reads $all from a position inclusively: the event
			// at the cursor comes back first and is skipped below.
			from = kurrentdb.Position{Commit: cursor.Commit, Prepare: cursor.Prepare}
		}
		rs, err := c.ReadAll(ctx, kurrentdb.ReadAllOptions{Direction: kurrentdb.Forwards, From: from}, allPage)
		if err != nil {
			return nil, s.fail(ctx, c, "read $all", err)
		}
		n := 0
		for len(out) < limit {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rs.Close()
				return nil, s.fail(ctx, c, "read $all", err)
			}
			n++
			e := ev.OriginalEvent()
			pos := eventstore.Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare}
			if started && !cursor.Less(pos) {
				continue
			}
			cursor, started = pos, true
			if !ours(e) {
				continue
			}
			r, err := toRecord(ev)
			if err != nil {
				rs.Close()
				return nil, err
			}
			out = append(out, r)
		}
		rs.Close()
		if len(out) >= limit || n < allPage {
			return out, nil
		}
	}
}

// SubscribeAll implements eventstore.Store with a catch-up subscription to
// $all, filtered on the server by caseledger's stream prefixes. KurrentDB
// delivers the stored events and then the live ones on one stream, so there
// is no gap and no duplicate at the switch; events at or before the last one
// delivered are dropped all the same.
//
// It returns ctx's error when ctx ends, fn's error when fn fails, and
// otherwise eventstore.ErrCorrupt, eventstore.ErrClosed or the client's error
// wrapped when the subscription is dropped; the caller resumes from its
// checkpoint.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position, fn func(eventstore.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.conn()
	if err != nil {
		return fmt.Errorf("kurrent: subscribe to $all: %w", err)
	}
	started := after != eventstore.Start
	var from kurrentdb.AllPosition = kurrentdb.Start{}
	if started {
		from = kurrentdb.Position{Commit: after.Commit, Prepare: after.Prepare}
	}
	sub, err := c.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{
		From:   from,
		Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.StreamFilterType, Prefixes: prefixes},
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.fail(ctx, c, "subscribe to $all", err)
	}
	defer sub.Close()
	last := after
	for {
		msg := sub.Recv()
		switch {
		case msg.EventAppeared != nil:
			e := msg.EventAppeared.OriginalEvent()
			pos := eventstore.Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare}
			if (started && !last.Less(pos)) || !ours(e) {
				continue
			}
			r, err := toRecord(msg.EventAppeared)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
			last, started = pos, true
		case msg.SubscriptionDropped != nil:
			if err := endedWith(ctx); err != nil {
				return err
			}
			return s.fail(ctx, c, "subscription to $all dropped", msg.SubscriptionDropped.Error)
		}
		// Checkpoints and caught-up notices carry nothing a caller needs:
		// its checkpoint is the position of the last record it handled.
	}
}

// ours reports whether an event of $all belongs to caseledger's global log.
func ours(e *kurrentdb.RecordedEvent) bool {
	if strings.HasPrefix(e.EventType, "$") {
		return false
	}
	for _, p := range prefixes {
		if strings.HasPrefix(e.StreamID, p) {
			return true
		}
	}
	return false
}

// toRecord unwraps a stored event.
func toRecord(ev *kurrentdb.ResolvedEvent) (eventstore.Record, error) {
	e := ev.OriginalEvent()
	if e == nil {
		return eventstore.Record{}, fmt.Errorf("kurrent: %w: a read returned a link to a missing event", eventstore.ErrCorrupt)
	}
	meta, prev, hash, err := decodeMeta(e.UserMetadata)
	if err != nil {
		return eventstore.Record{}, fmt.Errorf("kurrent: %s version %d: %w", e.StreamID, e.EventNumber, err)
	}
	return eventstore.Record{
		ID:         e.EventID,
		Stream:     e.StreamID,
		Version:    int64(e.EventNumber),
		Position:   eventstore.Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare},
		Type:       e.EventType,
		Data:       e.Data,
		Metadata:   meta,
		RecordedAt: e.CreatedDate,
		PrevHash:   prev,
		Hash:       hash,
	}, nil
}

// endedWith returns the context's error when a dropped subscription was the
// context ending. gRPC can see a deadline pass a moment before the context
// itself reports it, so a drop waits briefly for the context to agree.
func endedWith(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if _, ok := ctx.Deadline(); !ok && ctx.Done() == nil {
		return nil
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
