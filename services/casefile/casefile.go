// Package casefile connects the domain to the event store: it encodes
// domain events as store records and back, loads a case by folding its
// stream, and executes a command against a case with optimistic concurrency.
// Ingest, the API and the command-line tools all go through it, so there is
// one way a command becomes part of the record.
//
// It never logs and never puts event contents in errors: ids only.
package casefile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/google/uuid"
)

// Encode turns a domain event into what the store appends: the payload JSON
// as data, the envelope and schema version as metadata.
func Encode(e domain.Event) (eventstore.EventData, error) {
	typ, data, meta, err := domain.EncodeStored(e)
	if err != nil {
		return eventstore.EventData{}, err
	}
	return eventstore.EventData{ID: e.ID, Type: typ, Data: data, Metadata: meta}, nil
}

// ErrNotCase is returned for a record or stream outside a case stream.
var ErrNotCase = errors.New("casefile: not a case stream")

// Decode turns a stored record of a case stream back into a domain event,
// strictly, upcasting older schema versions. Errors name the stream, the
// version and the field, never a value.
func Decode(r eventstore.Record) (domain.Event, error) {
	caseID, err := CaseID(r.Stream)
	if err != nil {
		return domain.Event{}, err
	}
	e, err := domain.DecodeStored(r.ID, caseID, r.Type, r.Data, r.Metadata)
	if err != nil {
		return domain.Event{}, fmt.Errorf("casefile: %s version %d: %w", r.Stream, r.Version, err)
	}
	return e, nil
}

// CaseID returns the case of a case-<uuid> stream, or ErrNotCase.
func CaseID(stream string) (uuid.UUID, error) {
	id, ok := domain.CaseIDOf(stream)
	if !ok {
		return uuid.Nil, ErrNotCase
	}
	return id, nil
}

// Load reads a case's stream and folds it. It returns the state and the
// records it read; an unknown case is the zero State and no record.
func Load(ctx context.Context, s eventstore.Store, caseID uuid.UUID) (domain.State, []eventstore.Record, error) {
	stream := domain.StreamName(caseID)
	var (
		state domain.State
		recs  []eventstore.Record
	)
	const page = 1000
	for from := int64(0); ; {
		batch, err := s.ReadStream(ctx, stream, from, page)
		if err != nil {
			return domain.State{}, nil, err
		}
		for _, r := range batch {
			e, err := Decode(r)
			if err != nil {
				return domain.State{}, nil, err
			}
			state = domain.Evolve(state, e)
		}
		recs = append(recs, batch...)
		if len(batch) < page {
			return state, recs, nil
		}
		from = batch[len(batch)-1].Version + 1
	}
}

// Expected is the expected version an append on a case in state s uses.
func Expected(s domain.State) eventstore.ExpectedVersion {
	if s.Version == 0 {
		return eventstore.NoStream
	}
	return eventstore.Exact(s.Version - 1)
}

// Append encodes events decided on state s and appends them with the
// expected version s implies.
func Append(ctx context.Context, st eventstore.Store, s domain.State, events []domain.Event) (eventstore.AppendResult, error) {
	return AppendAt(ctx, st, s.Version, events)
}

// AppendAt appends events decided on a case that had version events before
// them (State.Version).
func AppendAt(ctx context.Context, st eventstore.Store, version int64, events []domain.Event) (eventstore.AppendResult, error) {
	if len(events) == 0 {
		return eventstore.AppendResult{}, errors.New("casefile: nothing to append")
	}
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		d, err := Encode(e)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		data[i] = d
	}
	return st.Append(ctx, domain.StreamName(events[0].CaseID), Expected(domain.State{Version: version}), data)
}

// Execute loads the command's case, decides the command at now() and
// appends the result, reloading and deciding again when another writer got
// there first (up to attempts times). A retried command whose events are
// already stored is absorbed: the stored result comes back.
func Execute(ctx context.Context, st eventstore.Store, cmd domain.Command, now func() time.Time, attempts int) (eventstore.AppendResult, []domain.Event, error) {
	var lastErr error
	for range max(attempts, 1) {
		s, recs, err := Load(ctx, st, cmd.Head().CaseID)
		if err != nil {
			return eventstore.AppendResult{}, nil, err
		}
		if res, events, ok := applied(s, recs, cmd); ok {
			return res, events, nil
		}
		events, err := domain.Decide(s, cmd, now())
		if err != nil {
			return eventstore.AppendResult{}, nil, err
		}
		res, err := Append(ctx, st, s, events)
		if errors.Is(err, eventstore.ErrWrongVersion) {
			lastErr = err
			continue
		}
		return res, events, err
	}
	return eventstore.AppendResult{}, nil, lastErr
}

// applied finds a command's events in the case when an earlier delivery of
// the same command was already recorded (its event ids derive from the
// command id), and returns the stored result, so that a redelivery after the
// case has moved on is absorbed rather than decided again.
func applied(s domain.State, recs []eventstore.Record, cmd domain.Command) (eventstore.AppendResult, []domain.Event, bool) {
	first, ok := s.Entries[domain.EventID(cmd.Head().CommandID, 0)]
	if !ok {
		return eventstore.AppendResult{}, nil, false
	}
	res := eventstore.AppendResult{Stream: domain.StreamName(cmd.Head().CaseID), FirstVersion: first.Version, Duplicate: true}
	var events []domain.Event
	for i := 0; ; i++ {
		e, ok := s.Entries[domain.EventID(cmd.Head().CommandID, i)]
		if !ok {
			break
		}
		r := recs[e.Version]
		res.LastVersion, res.Position, res.Hash = r.Version, r.Position, r.Hash
		if ev, err := Decode(r); err == nil {
			events = append(events, ev)
		}
	}
	return res, events, true
}
