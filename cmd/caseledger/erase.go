package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/caseledger/caseledger/services/refusal"
	"github.com/google/uuid"
)

// runErase erases a case's personal data: it records
// case.personal_data_erased (scope, reason, the authoriser), then destroys
// the case's data key, after which every personal value of the case reads
// as erased, in the API, replays and bundles alike, while every chain,
// signature and proof stays valid. It is refused under an active legal
// hold. Run again on a case already erased, it only makes sure the key is
// gone (an erasure killed between the two steps resumes so).
func runErase(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("erase", getenv, stderr)
	var caseArg, reason, as, agency, rule string
	f.StringVar(&caseArg, "case", "", "the case whose personal data is erased")
	f.StringVar(&reason, "reason", "", "why: a request or file reference (never personal data), kept in the record")
	f.StringVar(&rule, "rule", "", "the retention rule applied, when one is")
	f.StringVar(&as, "as", "", "the authoriser's user id (a supervisor of the case's agency)")
	f.StringVar(&agency, "agency", "", "the authoriser's agency (default: the case's)")
	var id uuid.UUID
	if err := f.parse(args, 0, func() error {
		var errs []error
		var err error
		if id, err = uuid.Parse(caseArg); err != nil {
			errs = append(errs, errors.New("--case must be a case id (a uuid)"))
		}
		if strings.TrimSpace(reason) == "" {
			errs = append(errs, errors.New("--reason is required: a request or file reference, kept in the record"))
		}
		if strings.TrimSpace(as) == "" {
			errs = append(errs, errors.New("--as is required: the authoriser's user id"))
		}
		return errors.Join(errs...)
	}); err != nil {
		return err
	}
	st, err := openStoreAlone(ctx, f.store, "send erase_personal_data over NATS (caseledger emit --command erase_personal_data) or stop serve first")
	if err != nil {
		return err
	}
	defer st.Close()
	state, _, err := casefile.Load(ctx, st, id)
	if err != nil {
		return err
	}
	if state.ID == uuid.Nil {
		return fmt.Errorf("case %s is not in the record", id)
	}
	if agency == "" {
		agency = state.Agency
	}
	keys := st.(personal.Store).Keys
	if e := state.Erased; e != nil {
		if err := keys.Destroy(ctx, personal.CaseSubject(id)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "case %s: personal data already erased on %s (event %s); its key is destroyed\n", id, e.At.UTC().Format(time.RFC3339), e.EventID)
		return nil
	}
	now := time.Now().UTC()
	cmd := domain.ErasePersonalData{
		CommandHeader:      domain.CommandHeader{CaseID: id, CommandID: uuid.New(), Actor: domain.Actor{UserID: as, Role: domain.RoleSupervisor, Agency: agency}, OccurredAt: now, SourceSystem: "caseledger-cli"},
		PersonalDataErased: domain.PersonalDataErased{Scope: domain.ErasureScopeCase, Rule: rule, Reason: reason},
	}
	res, _, err := casefile.Execute(ctx, st, cmd, time.Now, 3)
	if err != nil {
		if code, field, why, ok := refusal.Describe(err); ok {
			return fmt.Errorf("%w: erasure refused: %s (%s): %s", errRejected, code, field, why)
		}
		return err
	}
	// The store destroys the key after the event; if it could not, the
	// erasure is recorded and the key must still go.
	if held, err := keys.Held(ctx, personal.CaseSubject(id)); err != nil || held {
		if err == nil {
			err = keys.Destroy(ctx, personal.CaseSubject(id))
		}
		if err != nil {
			return fmt.Errorf("case %s: the erasure is recorded (version %d) but its key is not destroyed yet: %w; run erase again once the keys directory takes writes", id, res.FirstVersion, err)
		}
	}
	fmt.Fprintf(stdout, "case %s: personal data erased (event at version %d); its key is destroyed: every personal value of the case now reads %q\n", id, res.FirstVersion, personal.Erased)
	return nil
}
