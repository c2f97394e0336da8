package intake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/google/uuid"
)

// TestTooLargeIsRefusedBeforeSending: a command over the size caseledger
// takes is refused by the client, naming the limit, before anything is
// sent (the client here has no connection at all).
func TestTooLargeIsRefusedBeforeSending(t *testing.T) {
	c := &intake.Client{}
	note := domain.AddNote{CommandHeader: domain.CommandHeader{CaseID: uuid.New(), CommandID: uuid.New(),
		Actor: domain.Actor{UserID: "u", Role: domain.RoleOfficer, Agency: "a"}, OccurredAt: time.Now(), SourceSystem: "t"},
		NoteAdded: domain.NoteAdded{NoteID: uuid.New(), Text: strings.Repeat("x", 300<<10)}}
	if _, err := c.Send(context.Background(), note); !errors.Is(err, intake.ErrTooLarge) || !strings.Contains(err.Error(), "at most 262144") {
		t.Fatalf("Send: %v", err)
	}
	if _, err := c.Publish(context.Background(), note); !errors.Is(err, intake.ErrTooLarge) {
		t.Fatalf("Publish: %v", err)
	}
}
