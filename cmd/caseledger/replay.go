package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

// errNotFound marks a case that is not in the record.
var errNotFound = errors.New("not found")

// runReplay prints a case's events from the store, folded and checked
// against its chain.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("replay", getenv, stderr)
	if err := f.parse(args, 1); err != nil {
		return err
	}
	caseID, err := uuid.Parse(f.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: CASE_ID is not a uuid", errUsage)
	}
	store, err := openReader(ctx, f.store)
	if err != nil {
		return err
	}
	defer store.Close()
	state, recs, err := casefile.Load(ctx, store, caseID)
	if err != nil {
		return fmt.Errorf("replay %s: %w", caseID, err)
	}
	if len(recs) == 0 {
		return fmt.Errorf("case %s: %w in %s", caseID, errNotFound, f.store.where())
	}
	events := make([]domain.Event, len(recs))
	for i, r := range recs {
		if events[i], err = casefile.Decode(r); err != nil {
			return err
		}
	}
	printTimeline(stdout, state, events)
	if b := eventstore.VerifyStream(recs); b != nil {
		fmt.Fprintf(stdout, "\nCHAIN BROKEN: %v\n", b)
		return fmt.Errorf("case %s: %w", caseID, b)
	}
	fmt.Fprintf(stdout, "\nchain verified: %d events, last hash %s\n", len(recs), recs[len(recs)-1].Hash)
	return nil
}
