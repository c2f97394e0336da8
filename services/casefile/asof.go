package casefile

import (
	"errors"
	"fmt"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/google/uuid"
)

// Cut is a past view of a case. Exactly one of its fields is set.
//
// As recorded (RecordedAt or Position): what the record held then, "what
// did we know at the bail hearing?". An event belongs when its recorded_at,
// which the chain covers, is not after RecordedAt, or when its global
// position is not after Position.
//
// As occurred (OccurredAt): what had happened by then, as known now. An
// event belongs when it occurred by then, and so does every correction,
// redaction or marking in error of such an event, whenever it was made: the
// view never shows an original as current when the record now knows better.
type Cut struct {
	RecordedAt time.Time
	Position   *eventstore.Position
	OccurredAt time.Time
}

// Errors of a cut that cannot be replayed.
var (
	ErrCut        = errors.New("casefile: give exactly one of recorded-at, position or occurred-at")
	ErrFutureCut  = errors.New("casefile: the time is in the future")
	ErrBeforeCase = errors.New("casefile: the case had no entry yet at that point")
)

// Kind names the cut: "as_recorded_at", "as_of_position" or "as_occurred_at".
func (c Cut) Kind() string {
	switch {
	case c.Position != nil:
		return "as_of_position"
	case !c.OccurredAt.IsZero():
		return "as_occurred_at"
	}
	return "as_recorded_at"
}

// Validate checks that exactly one field is set and no time is after now.
func (c Cut) Validate(now time.Time) error {
	set := 0
	for _, ok := range []bool{!c.RecordedAt.IsZero(), c.Position != nil, !c.OccurredAt.IsZero()} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return ErrCut
	}
	if c.RecordedAt.After(now) || c.OccurredAt.After(now) {
		return ErrFutureCut
	}
	return nil
}

// Replay folds a case's records (the whole stream, in order) under the
// cut. It returns the state under the cut and the events it kept, in
// stream order; the versions of kept events are their versions in the
// stream, so a view can cite them.
func Replay(recs []eventstore.Record, cut Cut, now time.Time) (domain.State, []domain.Event, []eventstore.Record, error) {
	if err := cut.Validate(now); err != nil {
		return domain.State{}, nil, nil, err
	}
	events := make([]domain.Event, len(recs))
	for i, r := range recs {
		e, err := Decode(r)
		if err != nil {
			return domain.State{}, nil, nil, err
		}
		events[i] = e
	}
	keep := make([]bool, len(recs))
	switch {
	case cut.Position != nil:
		for i, r := range recs {
			keep[i] = !cut.Position.Less(r.Position)
		}
	case !cut.RecordedAt.IsZero():
		for i, e := range events {
			keep[i] = !e.Meta.RecordedAt.After(cut.RecordedAt)
		}
	default:
		occurred := map[uuid.UUID]bool{}
		for i, e := range events {
			if target := domain.Annotated(e.Data); target != uuid.Nil {
				keep[i] = occurred[target]
			} else {
				keep[i] = !e.Meta.OccurredAt.After(cut.OccurredAt)
			}
			if keep[i] {
				occurred[e.ID] = true
			}
		}
	}
	var (
		state domain.State
		kept  []domain.Event
		krecs []eventstore.Record
	)
	for i, e := range events {
		if keep[i] {
			state = domain.Evolve(state, e)
			kept = append(kept, e)
			krecs = append(krecs, recs[i])
		}
	}
	if len(kept) == 0 || kept[0].Type() != "case.opened" {
		// A view that lacks the opening (an event recorded or occurring
		// before the case was opened) is not a view of the case.
		return domain.State{}, nil, nil, fmt.Errorf("%w (%s)", ErrBeforeCase, cut.Kind())
	}
	return state, kept, krecs, nil
}
