package casefile_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

var day = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

func at(h, m int) time.Time {
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// TestReplayAsOfDiffersWhereItShould: a statement recorded hours after it
// was taken, and a correction made the next day of an entry made in the
// morning. At 13:00 the record held neither (as recorded), while by 13:00
// the statement had happened and the corrected entry had been made (as
// occurred, with what is known now): the two views differ by exactly those
// two events.
func TestReplayAsOfDiffersWhereItShould(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	caseID := uuid.MustParse("0195f000-0000-7000-8000-000000000001")
	officer := domain.Actor{UserID: "off-1", Role: domain.RoleOfficer, Agency: "police-lavallee"}
	ev := func(n int, occurred, recorded time.Time, d domain.EventData) domain.Event {
		return domain.Event{ID: domain.EventID(caseID, n), CaseID: caseID, Data: d, Meta: domain.Meta{Actor: officer, OccurredAt: occurred, RecordedAt: recorded,
			SourceSystem: "records", Compartment: domain.SpecOf(d).Compartment}}
	}
	party := uuid.MustParse("0195f000-0000-7000-8000-000000000002")
	events := []domain.Event{
		ev(0, at(10, 0), at(10, 5), domain.CaseOpened{Module: "joint", Agency: "police-lavallee"}),
		ev(1, at(10, 10), at(10, 12), domain.PartyIdentified{PartyID: party, PersonID: "MNI-1", Role: "victim", Relationship: "spouse"}),
		ev(2, at(11, 0), at(15, 0), domain.StatementTaken{StatementID: domain.EventID(caseID, 100), PartyID: party, Kind: "written", MediaRef: "dems://s/1", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}),
		ev(3, at(12, 0), at(12, 1), domain.NoteAdded{NoteID: domain.EventID(caseID, 101), Text: "Neighbour called."}),
		ev(4, at(24+9, 0), at(24+9, 1), domain.EntryCorrected{TargetEventID: domain.EventID(caseID, 1), Changes: []domain.FieldChange{{Field: "relationship", Value: "ex_spouse"}}, Reason: "separated"}),
		ev(5, at(24+10, 0), at(24+10, 0), domain.NoteAdded{NoteID: domain.EventID(caseID, 102), Text: "Follow-up call."}),
	}
	if _, err := casefile.AppendAt(ctx, st, -1, events); err != nil {
		t.Fatal(err)
	}
	_, recs, err := casefile.Load(ctx, st, caseID)
	if err != nil {
		t.Fatal(err)
	}
	now := at(48, 0)
	ids := func(es []domain.Event) []int {
		var out []int
		for _, e := range es {
			out = append(out, slices.IndexFunc(events, func(x domain.Event) bool { return x.ID == e.ID }))
		}
		return out
	}
	_, recorded, _, err := casefile.Replay(recs, casefile.Cut{RecordedAt: at(13, 0)}, now)
	if err != nil {
		t.Fatal(err)
	}
	_, occurred, _, err := casefile.Replay(recs, casefile.Cut{OccurredAt: at(13, 0)}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(recorded); !slices.Equal(got, []int{0, 1, 3}) {
		t.Errorf("as recorded at 13:00: events %v, want [0 1 3]", got)
	}
	if got := ids(occurred); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("as occurred by 13:00: events %v, want [0 1 2 3 4] (the late statement and the later correction of the party)", got)
	}
	// The position cut after the third record is the first three events.
	p := recs[2].Position
	_, byPos, _, err := casefile.Replay(recs, casefile.Cut{Position: &p}, now)
	if err != nil || !slices.Equal(ids(byPos), []int{0, 1, 2}) {
		t.Errorf("as of position %s: %v, %v", p, ids(byPos), err)
	}
	// The correction shows in the as-occurred state of the party entry.
	st1, _, _, _ := casefile.Replay(recs, casefile.Cut{OccurredAt: at(13, 0)}, now)
	st2, _, _, _ := casefile.Replay(recs, casefile.Cut{RecordedAt: at(13, 0)}, now)
	if st1.Entries[events[1].ID].Corrections != 1 || st2.Entries[events[1].ID].Corrections != 0 {
		t.Errorf("corrections of the party entry: as occurred %d, as recorded %d", st1.Entries[events[1].ID].Corrections, st2.Entries[events[1].ID].Corrections)
	}

	for name, cut := range map[string]casefile.Cut{
		"before the case":  {RecordedAt: at(9, 0)},
		"occurred before":  {OccurredAt: at(9, 59)},
		"in the future":    {RecordedAt: at(72, 0)},
		"nothing asked":    {},
		"two cuts at once": {RecordedAt: at(13, 0), OccurredAt: at(13, 0)},
	} {
		_, _, _, err := casefile.Replay(recs, cut, now)
		want := map[string]error{"before the case": casefile.ErrBeforeCase, "occurred before": casefile.ErrBeforeCase, "in the future": casefile.ErrFutureCut,
			"nothing asked": casefile.ErrCut, "two cuts at once": casefile.ErrCut}[name]
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
}

// TestReplayAsOfGenerated checks both cuts on generated cases at random
// times against a reading of the events themselves.
func TestReplayAsOfGenerated(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	cases, err := gen.New(9).Cases(40)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	differed := 0
	for _, c := range cases {
		evs := c.Events()
		if _, err := casefile.AppendAt(ctx, st, -1, evs); err != nil {
			t.Fatal(err)
		}
		_, recs, err := casefile.Load(ctx, st, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last := evs[0].Meta.OccurredAt, evs[len(evs)-1].Meta.RecordedAt
		for k := range 6 {
			cut := first.Add(time.Duration(rng.Int64N(int64(last.Sub(first)) + 1)))
			if k%2 == 1 {
				// Between an event's occurrence and its recording, where
				// the two views must part.
				e := evs[rng.IntN(len(evs))]
				cut = e.Meta.OccurredAt.Add(e.Meta.RecordedAt.Sub(e.Meta.OccurredAt) / 2)
			}
			_, rec, _, err := casefile.Replay(recs, casefile.Cut{RecordedAt: cut}, now)
			if err != nil && !errors.Is(err, casefile.ErrBeforeCase) {
				t.Fatal(err)
			}
			_, occ, _, err := casefile.Replay(recs, casefile.Cut{OccurredAt: cut}, now)
			if err != nil {
				t.Fatal(err)
			}
			var wantRec, wantOcc []uuid.UUID
			inOcc := map[uuid.UUID]bool{}
			for _, e := range evs {
				if !e.Meta.RecordedAt.After(cut) {
					wantRec = append(wantRec, e.ID)
				}
				target := uuid.Nil
				switch d := e.Data.(type) {
				case domain.EntryCorrected:
					target = d.TargetEventID
				case domain.EntryRedacted:
					target = d.TargetEventID
				case domain.EntryMarkedInError:
					target = d.TargetEventID
				}
				if (target == uuid.Nil && !e.Meta.OccurredAt.After(cut)) || (target != uuid.Nil && inOcc[target]) {
					wantOcc = append(wantOcc, e.ID)
					inOcc[e.ID] = true
				}
			}
			got := func(es []domain.Event) []uuid.UUID {
				var out []uuid.UUID
				for _, e := range es {
					out = append(out, e.ID)
				}
				return out
			}
			if len(wantRec) > 0 && evs[0].Meta.RecordedAt.After(cut) {
				wantRec = nil // the opening was not recorded yet: no view
			}
			if !slices.Equal(got(rec), wantRec) || !slices.Equal(got(occ), wantOcc) {
				t.Fatalf("case %s at %s: as recorded %d events (want %d), as occurred %d (want %d)", c.ID, cut, len(rec), len(wantRec), len(occ), len(wantOcc))
			}
			if !slices.Equal(wantRec, wantOcc) {
				differed++
			}
		}
	}
	if differed == 0 {
		t.Fatal("the two views never differed: the fixture cannot tell them apart")
	}
}
