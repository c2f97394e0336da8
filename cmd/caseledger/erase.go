package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/caseledger/caseledger/services/refusal"
	"github.com/google/uuid"
)

// runErase erases personal data: a case's (--case: every personal value of
// it) or a person's (--person: the values about that person in every case
// where they are a party). In each case it records
// case.personal_data_erased (scope, reason, the authoriser, the parties),
// then destroys the keys it names, after which those values read as
// erased, in the API, replays and bundles alike, while every chain,
// signature and proof stays valid. It is refused under an active legal
// hold: for a person, a hold on any of their cases stops the whole
// erasure before anything is recorded. Run again on what is already
// erased, it only makes sure the keys are gone (an erasure killed between
// the two steps resumes so).
func runErase(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("erase", getenv, stderr)
	var caseArg, person, reason, as, agency, rule string
	f.StringVar(&caseArg, "case", "", "the case whose personal data is erased (with --person: only in this case)")
	f.StringVar(&person, "person", "", "the person (person_id) whose data is erased, in every case where they are a party")
	f.StringVar(&reason, "reason", "", "why: a request or file reference (never personal data), kept in the record")
	f.StringVar(&rule, "rule", "", "the retention rule applied, when one is")
	f.StringVar(&as, "as", "", "the authoriser's user id (a supervisor of the case's agency)")
	f.StringVar(&agency, "agency", "", "the authoriser's agency (default: each case's)")
	var id uuid.UUID
	if err := f.parse(args, 0, func() error {
		var errs []error
		var err error
		switch {
		case caseArg == "" && person == "":
			errs = append(errs, errors.New("--case ID or --person PERSON_ID is required"))
		case caseArg != "":
			if id, err = uuid.Parse(caseArg); err != nil {
				errs = append(errs, errors.New("--case must be a case id (a uuid)"))
			}
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
	keys := st.(personal.Store).Keys
	er := eraser{st: st, keys: keys, as: as, agency: agency, rule: rule, reason: reason, stdout: stdout}
	if person == "" {
		state, _, err := casefile.Load(ctx, st, id)
		if err != nil {
			return err
		}
		if state.ID == uuid.Nil {
			return fmt.Errorf("case %s is not in the record", id)
		}
		return er.erase(ctx, state, domain.PersonalDataErased{Scope: domain.ErasureScopeCase})
	}

	// A person: every case where they are a party, checked first, so that
	// a hold on one of them stops the erasure before anything is recorded.
	var states []domain.State
	if id != uuid.Nil {
		state, _, err := casefile.Load(ctx, st, id)
		if err != nil {
			return err
		}
		if state.ID == uuid.Nil {
			return fmt.Errorf("case %s is not in the record", id)
		}
		states = []domain.State{state}
	} else if states, err = loadCases(ctx, st); err != nil {
		return err
	}
	var theirs []domain.State
	var blocked []string
	for _, s := range states {
		if !partyOf(s, person) {
			continue
		}
		theirs = append(theirs, s)
		for _, h := range s.Holds {
			if h.Active && s.Erased == nil {
				blocked = append(blocked, fmt.Sprintf("case %s is under an active legal hold (%s)", s.ID, h.Scope))
				break
			}
		}
	}
	if len(theirs) == 0 {
		where := "any case in the record"
		if id != uuid.Nil {
			where = "case " + id.String()
		}
		return fmt.Errorf("%w: person %s is not a party of %s", errRejected, person, where)
	}
	if len(blocked) > 0 {
		return fmt.Errorf("%w: erasure of person %s refused, nothing erased: legal_hold: %s; release the hold first", errRejected, person, strings.Join(blocked, "; "))
	}
	var errs []error
	for _, s := range theirs {
		if err := er.erase(ctx, s, domain.PersonalDataErased{Scope: domain.ErasureScopePerson, PersonID: person}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// partyOf reports whether the person is a party of the case.
func partyOf(s domain.State, person string) bool {
	for _, p := range s.Parties {
		if p.PersonID == person {
			return true
		}
	}
	return false
}

// eraser records erasures and destroys their keys.
type eraser struct {
	st                       eventstore.Store
	keys                     *personal.Keys
	as, agency, rule, reason string
	stdout                   io.Writer
}

// erase erases what ev scopes in the case s, or finishes an erasure
// already recorded.
func (er eraser) erase(ctx context.Context, s domain.State, ev domain.PersonalDataErased) error {
	what := "personal data"
	if ev.Scope == domain.ErasureScopePerson {
		what = "personal data of person " + ev.PersonID
	}
	if done := alreadyErased(s, ev); done != nil {
		if _, err := finishErasure(ctx, er.keys, s); err != nil {
			return err
		}
		fmt.Fprintf(er.stdout, "case %s: %s already erased on %s (event %s); its keys are destroyed\n", s.ID, what, done.At.UTC().Format(time.RFC3339), done.EventID)
		return nil
	}
	agency := er.agency
	if agency == "" {
		agency = s.Agency
	}
	ev.Rule, ev.Reason = er.rule, er.reason
	cmd := domain.ErasePersonalData{
		CommandHeader:      domain.CommandHeader{CaseID: s.ID, CommandID: uuid.New(), Actor: domain.Actor{UserID: er.as, Role: domain.RoleSupervisor, Agency: agency}, OccurredAt: time.Now().UTC(), SourceSystem: "caseledger-cli"},
		PersonalDataErased: ev,
	}
	res, events, err := casefile.Execute(ctx, er.st, cmd, time.Now, 3)
	if err != nil {
		if code, field, why, ok := refusal.Describe(err); ok {
			return fmt.Errorf("%w: case %s: erasure refused: %s (%s): %s", errRejected, s.ID, code, field, why)
		}
		return fmt.Errorf("case %s: %w", s.ID, err)
	}
	// The store destroys the keys after the event; if it could not, the
	// erasure is recorded and the keys must still go.
	after := s.Clone()
	for _, e := range events {
		after = domain.Evolve(after, e)
	}
	if _, err := finishErasure(ctx, er.keys, after); err != nil {
		return fmt.Errorf("case %s: the erasure is recorded (version %d) but its keys are not all destroyed yet: %w; run erase again once the keys directory takes writes", s.ID, res.FirstVersion, err)
	}
	fmt.Fprintf(er.stdout, "case %s: %s erased (event at version %d); its keys are destroyed: those values now read %q\n", s.ID, what, res.FirstVersion, personal.ErasedText(&personal.ErasedError{Note: personal.ErasureNote(&domain.Erasure{Rule: er.rule, At: time.Now()})}))
	return nil
}

// alreadyErased returns the erasure that already covers ev in s, or nil.
func alreadyErased(s domain.State, ev domain.PersonalDataErased) *domain.Erasure {
	if s.Erased != nil {
		return s.Erased
	}
	if ev.Scope != domain.ErasureScopePerson {
		return nil
	}
	var done *domain.Erasure
	for _, p := range s.Parties {
		if p.PersonID != ev.PersonID {
			continue
		}
		if p.Erased == nil {
			return nil
		}
		done = p.Erased
	}
	return done
}

// finishErasure destroys every key the case's recorded erasures named that
// the key store still holds; it returns how many.
func finishErasure(ctx context.Context, keys *personal.Keys, s domain.State) (int, error) {
	n := 0
	for _, k := range personal.ErasedKeys(s) {
		held, err := keys.Held(ctx, k.Subject)
		if err != nil {
			return n, err
		}
		if !held {
			continue
		}
		if err := keys.Destroy(ctx, k.Subject, k.Note); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
