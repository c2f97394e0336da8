// Package casefile connects the domain to the event store: it encodes
// domain events as store records and back, loads a case by folding its
// stream, and decides commands against a case and appends their events with
// optimistic concurrency, absorbing a command that was already recorded.
// Ingest (a run of a case's commands in one append, DecideRun), the API and
// the command-line tools (one command, Execute) all go through it, so there
// is one way a command becomes part of the record.
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
func Load(ctx context.Context, s eventstore.Reader, caseID uuid.UUID) (domain.State, []eventstore.Record, error) {
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

// Outcome is what became of one command of a run.
type Outcome struct {
	// Err is why the command was refused (Decide's error): nothing of it
	// is recorded.
	Err error
	// Duplicate is set when the command was recorded before (a redelivery):
	// it was not decided again, and the versions and ids are the stored ones.
	Duplicate bool
	// FirstVersion and LastVersion are the case versions of the command's
	// events, EventIDs their ids in order; for a command decided into the
	// run, they hold once the run is appended.
	FirstVersion, LastVersion int64
	EventIDs                  []uuid.UUID
}

// Run is a case's commands decided in a row on one state, whose events
// are appended together: one expected version, one durable commit.
type Run struct {
	// Base is the case's version the run was decided on (State.Version
	// before it), which the append expects.
	Base int64
	// State is the case once the run's events are appended.
	State domain.State
	// Events are the events of the commands decided, in order; none when
	// the first command was a duplicate or refused.
	Events []domain.Event
	// Outcomes has one entry per command the run consumed, in order.
	// Commands after them were not looked at: the caller runs them next,
	// on the state the append leaves.
	Outcomes []Outcome
}

// DecideRun decides cmds, commands of the case in state s in the order they
// were sent, one after the other, each on the state the ones before it
// leave, so that their events can be appended in one append (Run.Append).
// It calls now for each command it decides, and prepare, when not nil, with
// the index in cmds and the events of each command decided, before they
// are folded: the caller may set metadata on them (a trace parent).
//
// A command that was already recorded (its first event id is in the case)
// is not decided again, and a refused one adds nothing. Either ends the
// run: when it is the first command, the run is that command alone, a
// Duplicate or an Err outcome; otherwise the run ends before it, so that
// it is looked at again on the state the run's append leaves (a duplicate
// absorbed against the stored result, a refusal decided anew).
//
// s's maps are updated in place as the events are folded (domain.Evolve
// does): a caller that keeps s, in a cache, must drop it unless the run is
// appended.
func DecideRun(s domain.State, cmds []domain.Command, now func() time.Time, prepare func(i int, events []domain.Event)) Run {
	return DecideRunSealed(context.Background(), s, cmds, now, prepare, nil)
}

// DigestSealer keeps a command's digest in the record in a form that
// tells nothing of its personal values: the plain digest (a SHA-256 of the
// whole command) could be brute-forced for a phone number or an address,
// even after their erasure. A store that encrypts personal data seals it
// with a key of the command's data subject (personal.Store); once that key
// is destroyed it returns "", and a command sent again with the same id is
// taken as a retry.
type DigestSealer interface {
	SealDigest(ctx context.Context, caseID uuid.UUID, cmd domain.Command, digest string) (string, error)
}

// DecideRunSealed is DecideRun with the digests sealed by seal (when not
// nil): what ingest and Execute use, with their store's sealer.
func DecideRunSealed(ctx context.Context, s domain.State, cmds []domain.Command, now func() time.Time, prepare func(i int, events []domain.Event), seal DigestSealer) Run {
	run := Run{Base: s.Version}
	decided := 0
	for i, cmd := range cmds {
		digest, derr := domain.CommandDigest(cmd)
		if derr == nil && seal != nil {
			digest, derr = seal.SealDigest(ctx, cmd.Head().CaseID, cmd, digest)
		}
		if first, ok := s.Entries[domain.EventID(cmd.Head().CommandID, 0)]; ok {
			if i == 0 {
				// The same id with another body is another command, not a
				// retry: refused, and what was recorded stays. (Entries
				// recorded before digests were kept, and those whose
				// subject's key is destroyed, are taken as retries.)
				if first.Digest != "" && (derr != nil || (digest != "" && first.Digest != digest)) {
					run.Outcomes = []Outcome{{Err: domain.ConflictingDuplicate()}}
				} else {
					o := recorded(s, cmd.Head().CommandID)
					o.Duplicate = true
					run.Outcomes = []Outcome{o}
				}
			}
			break
		}
		events, err := domain.Decide(s, cmd, now())
		if err == nil {
			err = derr
		}
		if err != nil {
			if i == 0 {
				run.Outcomes = []Outcome{{Err: err}}
			}
			break
		}
		if len(events) > 0 {
			events[0].Meta.CommandDigest = digest
		}
		if prepare != nil {
			prepare(i, events)
		}
		decided++
		for _, e := range events {
			s = domain.Evolve(s, e)
		}
		run.Events = append(run.Events, events...)
	}
	for _, cmd := range cmds[:decided] {
		run.Outcomes = append(run.Outcomes, recorded(s, cmd.Head().CommandID))
	}
	run.State = s
	return run
}

// recorded returns where a command's events are in a case: their ids derive
// from the command id, so they are found without the command's body.
func recorded(s domain.State, commandID uuid.UUID) Outcome {
	var o Outcome
	for i := 0; ; i++ {
		id := domain.EventID(commandID, i)
		e, ok := s.Entries[id]
		if !ok {
			return o
		}
		if i == 0 {
			o.FirstVersion = e.Version
		}
		o.EventIDs = append(o.EventIDs, id)
		o.LastVersion = e.Version
	}
}

// Append appends the run's events in one append at its base version. It
// returns an error wrapping eventstore.ErrWrongVersion when another writer
// appended to the case since the run's state: the caller loads the case
// again and decides the commands anew. A result with Duplicate set means the
// store already held the run's first event although the state did not: the
// state was stale.
func (r Run) Append(ctx context.Context, st eventstore.Store) (eventstore.AppendResult, error) {
	return AppendAt(ctx, st, r.Base, r.Events)
}

// Execute loads the command's case, decides the command at now() and
// appends the result (a run of one command, see DecideRun), reloading and
// deciding again when another writer got there first (up to attempts
// times). A retried command whose events are already stored is absorbed:
// the stored result and events come back. It returns the command's refusal
// as Decide returned it, the last eventstore.ErrWrongVersion when every
// attempt lost the race, or the store's error.
func Execute(ctx context.Context, st eventstore.Store, cmd domain.Command, now func() time.Time, attempts int) (eventstore.AppendResult, []domain.Event, error) {
	var lastErr error
	for range max(attempts, 1) {
		s, recs, err := Load(ctx, st, cmd.Head().CaseID)
		if err != nil {
			return eventstore.AppendResult{}, nil, err
		}
		seal, _ := st.(DigestSealer)
		run := DecideRunSealed(ctx, s, []domain.Command{cmd}, now, nil, seal)
		switch o := run.Outcomes[0]; {
		case o.Duplicate:
			res, events := stored(s, recs, cmd, o)
			return res, events, nil
		case o.Err != nil:
			return eventstore.AppendResult{}, nil, o.Err
		}
		res, err := run.Append(ctx, st)
		if errors.Is(err, eventstore.ErrWrongVersion) {
			lastErr = err
			continue
		}
		return res, run.Events, err
	}
	return eventstore.AppendResult{}, nil, lastErr
}

// stored returns the result and events of a command recorded before, from
// the case's records, so that a redelivery after the case has moved on gets
// what the first delivery got.
func stored(s domain.State, recs []eventstore.Record, cmd domain.Command, o Outcome) (eventstore.AppendResult, []domain.Event) {
	res := eventstore.AppendResult{Stream: domain.StreamName(cmd.Head().CaseID), FirstVersion: o.FirstVersion, Duplicate: true}
	var events []domain.Event
	for _, id := range o.EventIDs {
		r := recs[s.Entries[id].Version]
		res.LastVersion, res.Position, res.Hash = r.Version, r.Position, r.Hash
		if ev, err := Decode(r); err == nil {
			events = append(events, ev)
		}
	}
	return res, events
}
