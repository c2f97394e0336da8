package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/caseledger/caseledger/services/retention"
	"github.com/google/uuid"
)

// runRetention is `caseledger retention plan|run`: what the retention
// rules erase today and why, and carrying it out.
func runRetention(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "plan" && args[0] != "run") {
		return fmt.Errorf("%w: retention plan|run [--rules FILE] [--as-of DATE] (run: --as USER)", errUsage)
	}
	sub := args[0]
	f := newFlags("retention "+sub, getenv, stderr)
	var rulesFile, asOf, as string
	f.StringVar(&rulesFile, "rules", getenv("CASELEDGER_RETENTION_RULES"), "JSON retention rules {default, agencies} (default: 5 years after closure without charges; with charges, never until with_charges_years is set)")
	f.StringVar(&asOf, "as-of", "", "plan as of this date (YYYY-MM-DD; default today)")
	if sub == "run" {
		f.StringVar(&as, "as", "", "the administrator who runs the erasures (their user id, kept as each erasure's authoriser)")
	}
	rules := retention.Defaults()
	now := time.Now().UTC()
	if err := f.parse(args[1:], 0, func() error {
		var errs []error
		if rulesFile != "" {
			r, err := retention.LoadRules(rulesFile)
			if err != nil {
				errs = append(errs, err)
			}
			rules = r
		}
		if asOf != "" {
			t, err := time.Parse(time.DateOnly, asOf)
			if err != nil {
				errs = append(errs, errors.New("--as-of must be a date, YYYY-MM-DD"))
			}
			now = t
		}
		if sub == "run" && as == "" {
			errs = append(errs, errors.New("--as USER is required: the administrator kept as each erasure's authoriser"))
		}
		if sub == "run" && asOf != "" {
			errs = append(errs, errors.New("--as-of plans only: a run erases what is due today"))
		}
		return errors.Join(errs...)
	}); err != nil {
		return err
	}
	var reader eventstore.Reader
	var store eventstore.Store
	var err error
	if sub == "run" {
		store, err = openStoreAlone(ctx, f.store, "stop it for the retention run (or erase case by case with erase_personal_data over NATS)")
		reader = store
	} else {
		reader, err = openReader(ctx, f.store)
	}
	if err != nil {
		return err
	}
	defer reader.Close()
	states, err := loadCases(ctx, reader)
	if err != nil {
		return err
	}
	plan := retention.Plan(states, rules, now)
	byID := make(map[uuid.UUID]domain.State, len(states))
	for _, s := range states {
		byID[s.ID] = s
	}
	counts := map[string]int{}
	for _, d := range plan {
		counts[d.Action]++
		if sub == "plan" && d.Action != retention.Keep {
			due := "-"
			if !d.Due.IsZero() {
				due = d.Due.Format(time.DateOnly)
			}
			fmt.Fprintf(stdout, "%-7s %s %-20s %-12s due %s: %s\n", d.Action, d.CaseID, d.Agency, d.Rule, due, d.Why)
		}
	}
	summary := fmt.Sprintf("%d cases: %d to erase, %d blocked, %d not due yet, %d already erased, %d kept (open, or no rule applies)",
		len(plan), counts[retention.Erase], counts[retention.Blocked], counts[retention.Wait], counts[retention.Erased], counts[retention.Keep])
	if sub == "plan" {
		fmt.Fprintf(stdout, "as of %s, %s\n", now.Format(time.DateOnly), summary)
		return nil
	}
	// The run: each due case erased in turn (its event, then its key);
	// interrupted, a new run goes on where it stopped, and finishes the
	// key of a case whose erasure was recorded.
	keys := store.(personal.Store).Keys
	bar := newProgress(stderr, counts[retention.Erase])
	done, failed := 0, 0
	for _, d := range plan {
		if ctx.Err() != nil {
			break
		}
		switch d.Action {
		case retention.Erased:
			if _, err := finishErasure(ctx, keys, byID[d.CaseID]); err != nil {
				return err
			}
		case retention.Erase:
			reason := "retention rule " + d.Rule + ": " + d.Why
			cmd := domain.ErasePersonalData{
				CommandHeader: domain.CommandHeader{CaseID: d.CaseID, CommandID: uuid.NewSHA1(d.CaseID, []byte("retention/"+d.Rule)),
					Actor: domain.Actor{UserID: as, Role: domain.RoleAdmin, Agency: d.Agency}, OccurredAt: time.Now().UTC(), SourceSystem: "caseledger-retention"},
				PersonalDataErased: domain.PersonalDataErased{Scope: domain.ErasureScopeCase, Rule: d.Rule, Reason: reason[:min(len(reason), 512)]},
			}
			if _, _, err := casefile.Execute(ctx, store, cmd, time.Now, 3); err != nil {
				failed++
				fmt.Fprintf(stderr, "case %s not erased: %v\n", d.CaseID, err)
				continue
			}
			done++
			bar.step(done)
		}
	}
	bar.done()
	fmt.Fprintf(stdout, "retention run as of %s: %d cases erased, %d failed; plan was %s\n", now.Format(time.DateOnly), done, failed, summary)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted after %d erasures: run it again to go on: %w", done, err)
	}
	if failed > 0 {
		return fmt.Errorf("%d erasures failed (named above)", failed)
	}
	return nil
}

// loadCases folds every case of the record.
func loadCases(ctx context.Context, r eventstore.Reader) ([]domain.State, error) {
	states := map[uuid.UUID]domain.State{}
	var order []uuid.UUID
	after := eventstore.Start
	for {
		page, err := r.ReadAll(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, rec := range page {
			e, err := casefile.Decode(rec)
			if errors.Is(err, casefile.ErrNotCase) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if _, ok := states[e.CaseID]; !ok {
				order = append(order, e.CaseID)
			}
			states[e.CaseID] = domain.Evolve(states[e.CaseID], e)
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Position
	}
	out := make([]domain.State, 0, len(order))
	for _, id := range order {
		out = append(out, states[id])
	}
	return out, nil
}
