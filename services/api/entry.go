package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/access"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

// entryView is one entry of a case as recorded, with its personal fields,
// for a reader entitled to its compartment: the read model never holds
// those fields, so they come from the record itself. What corrects, redacts
// or marks the entry in error is shown beside it; the recorded data is never
// presented as if it were current, and redacted fields are withheld.
type entryView struct {
	CaseID              string         `json:"case_id"`
	EventID             string         `json:"event_id"`
	Version             int64          `json:"version"`
	Type                string         `json:"type"`
	Title               string         `json:"title"`
	OccurredAt          string         `json:"occurred_at"`
	RecordedAt          string         `json:"recorded_at"`
	Actor               domain.Actor   `json:"actor"`
	Compartment         string         `json:"compartment"`          // now, after any reclassification
	RecordedCompartment string         `json:"recorded_compartment"` // as first recorded
	Recorded            map[string]any `json:"recorded"`             // the data as recorded, redacted fields null
	RedactedFields      []string       `json:"redacted_fields"`
	Redactions          []annotation   `json:"redactions"`
	Corrections         []annotation   `json:"corrections"`
	// HiddenCorrections counts corrections in compartments the reader may
	// not see: the recorded data may not be current for them.
	HiddenCorrections int `json:"hidden_corrections"`
	// HiddenAnnotations counts corrections and redactions in compartments
	// the reader may not see (their effect on fields still applies).
	HiddenAnnotations int         `json:"hidden_annotations"`
	InError           *annotation `json:"marked_in_error"`
	StoredSHA256      string      `json:"stored_sha256"` // of the exact stored data bytes
	ChainHash         string      `json:"chain_hash"`
}

// annotation is a later entry that corrects, redacts or marks in error.
type annotation struct {
	EventID        string               `json:"event_id"`
	Version        int64                `json:"version"`
	RecordedAt     string               `json:"recorded_at"`
	Actor          domain.Actor         `json:"actor"`
	Reason         string               `json:"reason,omitempty"`
	Changes        []domain.FieldChange `json:"changes,omitempty"`
	NewCompartment string               `json:"new_compartment,omitempty"`
	Fields         []string             `json:"fields,omitempty"`
	LegalBasis     string               `json:"legal_basis,omitempty"`
}

// getEntry serves one entry with its personal fields. The entry's current
// compartment (after any reclassification) is checked against the record,
// not the read model, before the access record is written; a denial is
// recorded and answered 403.
func (s *Server) getEntry(w http.ResponseWriter, r *http.Request, p Principal) {
	eventID, err := uuid.Parse(r.PathValue("event"))
	if err != nil {
		problem(w, http.StatusBadRequest, "invalid_event_id", "the event id is not a uuid")
		return
	}
	check := func(a *caseAccess) (int, string, string) {
		if _, ok := a.state.Entries[eventID]; !ok {
			return http.StatusNotFound, "entry_not_found", "no entry with this id on the case"
		}
		if why := a.pol.ShowsEntry(eventID); why != "" {
			return http.StatusForbidden, "forbidden", why
		}
		return 0, "", ""
	}
	a, ok := s.caseRead(w, r, p, readSpec{surface: access.Entry, section: "entry:" + eventID.String(), fromRecord: true, check: check})
	if !ok {
		return
	}
	v, err := buildEntry(a.state, a.recs, eventID, a.pol)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, r, v)
}

func buildEntry(state domain.State, recs []eventstore.Record, eventID uuid.UUID, pol access.Policy) (entryView, error) {
	ent := state.Entries[eventID]
	rec := recs[ent.Version]
	e, err := casefile.Decode(rec)
	if err != nil {
		return entryView{}, err
	}
	_, _, data, err := domain.EncodeData(e.Data)
	if err != nil {
		return entryView{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var recorded map[string]any
	if err := dec.Decode(&recorded); err != nil {
		return entryView{}, err
	}
	sum := sha256.Sum256(rec.Data)
	v := entryView{
		CaseID: e.CaseID.String(), EventID: e.ID.String(), Version: rec.Version, Type: e.Type(), Title: domain.Title(e.Type()),
		OccurredAt: projections.TS(e.Meta.OccurredAt), RecordedAt: projections.TS(e.Meta.RecordedAt), Actor: e.Meta.Actor,
		Compartment: string(ent.Compartment), RecordedCompartment: string(e.Meta.Compartment),
		Recorded: recorded, RedactedFields: []string{}, Redactions: []annotation{}, Corrections: []annotation{},
		StoredSHA256: hex.EncodeToString(sum[:]), ChainHash: hex.EncodeToString(rec.Hash[:]),
	}
	// Redactions bind every reader, whatever their compartment; corrections
	// are shown to those who may see them and counted for the others.
	redacted := map[string]bool{}
	for _, later := range recs[ent.Version+1:] {
		le, err := casefile.Decode(later)
		if err != nil {
			return entryView{}, err
		}
		an := annotation{EventID: le.ID.String(), Version: later.Version, RecordedAt: projections.TS(le.Meta.RecordedAt), Actor: le.Meta.Actor}
		switch d := le.Data.(type) {
		case domain.EntryRedacted:
			if d.TargetEventID == eventID {
				// A redaction binds every reader; its basis and author are
				// shown only to those who may see it.
				for _, f := range d.Fields {
					redacted[f] = true
				}
				if pol.ShowsEntry(le.ID) != "" {
					v.HiddenAnnotations++
					continue
				}
				an.Fields, an.LegalBasis = d.Fields, d.LegalBasis
				v.Redactions = append(v.Redactions, an)
			}
		case domain.EntryCorrected:
			if d.TargetEventID == eventID {
				if pol.ShowsEntry(le.ID) != "" {
					v.HiddenCorrections++
					v.HiddenAnnotations++
					continue
				}
				an.Reason, an.Changes, an.NewCompartment = d.Reason, slices.Clone(d.Changes), string(d.NewCompartment)
				v.Corrections = append(v.Corrections, an)
			}
		case domain.EntryMarkedInError:
			if d.TargetEventID == eventID {
				if pol.ShowsEntry(le.ID) != "" {
					// It is in error all the same; why is for others.
					an.Reason, an.Actor = "", domain.Actor{}
				} else {
					an.Reason = d.Reason
				}
				v.InError = &an
			}
		}
	}
	for f := range redacted {
		v.RedactedFields = append(v.RedactedFields, f)
		if _, ok := recorded[f]; ok {
			recorded[f] = nil
		}
	}
	slices.Sort(v.RedactedFields)
	for i, c := range v.Corrections {
		for j, ch := range c.Changes {
			if redacted[ch.Field] {
				v.Corrections[i].Changes[j].Value = ""
			}
		}
	}
	return v, nil
}
