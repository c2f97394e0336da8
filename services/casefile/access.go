package casefile

import (
	"context"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/google/uuid"
)

// AccessStream is the stream of the access records of one day (UTC).
func AccessStream(at time.Time) string { return "access-" + at.UTC().Format("2006-01-02") }

// AppendAccess appends one access record (who read what, why, and whether
// it was denied; or a refused request) to the day's access stream: the API
// and the command line record reads alike, before they show anything.
// source names the system that served the read ("api", "cli").
func AppendAccess(ctx context.Context, st eventstore.Store, actor domain.Actor, caseID uuid.UUID, d domain.EventData, source string, now time.Time) error {
	now = now.UTC()
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	e := domain.Event{ID: id, CaseID: caseID, Meta: domain.Meta{Actor: actor, OccurredAt: now, RecordedAt: now, SourceSystem: source, Compartment: domain.CompartmentShared},
		Data: d}
	typ, data, meta, err := domain.EncodeStored(e)
	if err != nil {
		return err
	}
	_, err = st.Append(ctx, AccessStream(now), eventstore.Any, []eventstore.EventData{{ID: id, Type: typ, Data: data, Metadata: meta}})
	return err
}
