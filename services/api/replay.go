package api

import (
	"net/http"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/access"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

// getReplay is the auditor's past view of a case: as recorded at a time or
// up to a global position ("what did we know at the bail hearing?"), or as
// occurred by a time, as known now. It reads the record itself, not the
// read model, and shows the entries the role may see at that cut, with
// what corrects, redacts or marks them beside them.
func (s *Server) getReplay(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	var cut casefile.Cut
	n := 0
	for _, k := range []string{"recorded_at", "occurred_at", "position"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		n++
		switch k {
		case "position":
			pos, err := eventstore.ParsePosition(v)
			if err != nil {
				problem(w, http.StatusBadRequest, "invalid_position", "position is COMMIT/PREPARE, as the record prints it")
				return
			}
			cut.Position = &pos
		default:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				problem(w, http.StatusBadRequest, "invalid_time", k+" is not an RFC 3339 time")
				return
			}
			if k == "recorded_at" {
				cut.RecordedAt = t
			} else {
				cut.OccurredAt = t
			}
		}
	}
	if n != 1 {
		problem(w, http.StatusBadRequest, "invalid_cut", "give exactly one of recorded_at, occurred_at or position")
		return
	}
	if err := cut.Validate(s.now()); err != nil {
		problem(w, http.StatusBadRequest, "future_time", "the time is in the future")
		return
	}
	a, ok := s.caseRead(w, r, p, readSpec{surface: access.Replay, section: "replay:" + cut.Kind(), fromRecord: true, params: []string{"recorded_at", "occurred_at", "position"}})
	if !ok {
		return
	}
	now, recs := a.state, a.recs
	st, events, kept, err := casefile.Replay(recs, cut, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type entry struct {
		timelineEntry
		InError     bool `json:"marked_in_error,omitempty"`
		Redacted    bool `json:"redacted,omitempty"`
		Corrections int  `json:"corrections,omitempty"`
	}
	out := []entry{}
	hidden := 0
	// An entry's compartment as it stood at the cut, unless it has been
	// narrowed since (sealed, say): a past view never reopens what was
	// closed later.
	compartment := func(id uuid.UUID) (domain.Compartment, int64) {
		en := st.Entries[id]
		if current := now.Entries[id].Compartment; current != "" && current.NarrowerOrEqual(en.Compartment) {
			return current, en.Version
		}
		return en.Compartment, en.Version
	}
	for i, e := range events {
		en := st.Entries[e.ID]
		en.Compartment, _ = compartment(e.ID)
		why := a.pol.Shows(en.Compartment, kept[i].Version)
		if en.Target != uuid.Nil {
			tc, tv := compartment(en.Target)
			why = a.pol.ShowsAnnotation(en.Compartment, kept[i].Version, tc, tv)
		}
		if why != "" {
			hidden++
			continue
		}
		x := entry{timelineEntry: timelineEntry{Version: kept[i].Version, EventID: e.ID.String(), Type: e.Type(), Title: domain.Title(e.Type()),
			Summary: domain.Summary(e.Data), OccurredAt: projections.TS(e.Meta.OccurredAt), RecordedAt: projections.TS(e.Meta.RecordedAt),
			Actor: e.Meta.Actor.UserID, Role: string(e.Meta.Actor.Role), Agency: e.Meta.Actor.Agency, Compartment: string(en.Compartment)},
			InError: en.InError, Redacted: en.Redacted, Corrections: en.Corrections}
		if t := domain.Annotated(e.Data); t != uuid.Nil {
			x.Targets = t.String()
		}
		out = append(out, x)
	}
	resp := map[string]any{"case_id": a.id.String(), "cut": cut.Kind(), "entries": out}
	// The case as a whole at the cut (and how much of it is hidden) is for
	// an agency that reads the whole case, not one it was shared with from
	// some entry on.
	if a.pol.WholeCase() {
		resp["events_now"], resp["events_then"], resp["hidden"] = len(recs), len(events), hidden
		resp["state"] = map[string]any{"status": st.Status, "risk": st.Risk, "assignee": st.Assignee, "parties": len(st.Parties),
			"open_follow_ups": st.OpenFollowUps(), "active_conditions": st.ActiveConditions(), "referrals": len(st.Referrals)}
	}
	s.writeJSON(w, r, resp)
}
