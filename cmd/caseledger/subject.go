package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/google/uuid"
)

// runSubjectReport is `caseledger subject-report`: what the record holds
// about one person (Loi 25's right of access), written for that person.
//
// An entry is about the person when it names one of their parties (their
// identification, statements, assessments, conditions that bind or
// protect them, referrals, follow-ups, consents), or names something that
// does (a follow-up, a referral, a plan or a condition of theirs). Of
// those, the values held under the person's own keys (their contact
// details, safe contacts, safety plans) are written in clear; free text
// held under the case's key (notes, reasons, outcomes) may name others
// and is withheld, counted, to be released after a person's review; sealed
// entries are withheld, counted; entries about others are counted only.
// Other people's person ids never appear. Every case read leaves an access
// record (purpose subject_access) before anything is written.
func runSubjectReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("subject-report", getenv, stderr)
	var person, out string
	r := cliReader{purpose: "subject access request"}
	f.StringVar(&person, "person", "", "the person (person_id) the report is about")
	f.StringVar(&r.as, "as", "", "who prepares the report (required): the user id kept in each case's access log")
	f.StringVar(&r.purpose, "purpose", r.purpose, "why, kept in the access log (e.g. the request's reference)")
	f.StringVar(&r.agency, "agency", "", "the preparer's agency (default: each case's)")
	f.StringVar(&out, "out", "", "write the report to this file (0600) instead of standard output")
	if err := f.parse(args, 0, func() error {
		var errs []error
		if strings.TrimSpace(person) == "" || len(person) > 64 {
			errs = append(errs, errors.New("--person PERSON_ID is required (at most 64 characters)"))
		}
		if err := r.validate(); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}); err != nil {
		return err
	}
	st, err := openStoreAlone(ctx, f.store, "it alone writes the access records a subject report leaves: stop serve first")
	if err != nil {
		return err
	}
	defer st.Close()
	ps, ok := st.(personal.Store)
	if !ok {
		return errors.New("subject-report: the store keeps no personal data keys")
	}
	states, err := loadCases(ctx, st)
	if err != nil {
		return err
	}
	var b strings.Builder
	now := time.Now().UTC()
	fmt.Fprintf(&b, "SUBJECT ACCESS REPORT: person %s\n", person)
	fmt.Fprintf(&b, "Prepared %s by %s (purpose: %s) from the caseledger record.\n\n", now.Format(time.RFC3339), r.as, r.purpose)
	b.WriteString(subjectPreamble)
	n, broken := 0, 0
	for _, s := range states {
		if !partyOf(s, person) {
			continue
		}
		n++
		// The read is recorded before anything of the case is written.
		if err := casefile.AppendAccess(ctx, st, r.actor(s.Agency), s.ID, domain.RecordViewed{CaseID: s.ID, Purpose: "subject_access: " + r.purpose, Sections: []string{"subject_report"}}, "cli", now); err != nil {
			return fmt.Errorf("case %s: the access record could not be written, nothing of the case reported: %w", s.ID, err)
		}
		if err := writeSubjectCase(ctx, &b, st, ps.Keys, s, person); errors.Is(err, errCaseChainBroken) {
			broken++
		} else if err != nil {
			return err
		}
	}
	if n == 0 {
		fmt.Fprintf(&b, "The record holds no case where person %s is a party.\n", person)
	}
	var failed error
	if broken > 0 {
		failed = fmt.Errorf("subject-report: %d of %d cases not reported: their chain does not hold (run caseledger verify)", broken, n)
	}
	if out == "" {
		if _, err := io.WriteString(stdout, b.String()); err != nil {
			return err
		}
		return failed
	}
	if err := os.WriteFile(out, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("subject-report: %w", err)
	}
	fmt.Fprintf(stdout, "subject report on person %s: %d cases, written to %s; each read is in the case's access log\n", person, n, out)
	return failed
}

// errCaseChainBroken marks a case left out of a subject report.
var errCaseChainBroken = errors.New("the case's chain does not hold")

const subjectPreamble = `What this report holds: every entry of the record about this person, with
the values kept about them (identification, contact details, safe contacts,
safety plans) in clear. Withheld, and counted under each case: free text
kept about the case as a whole (notes, reasons, outcomes), which may name
other people, released after review; sealed entries (an investigation or a
court's order); entries about other people. Values erased under the
retention rules or on request read "[erased ...]".

`

// writeSubjectCase writes one case's part of the report.
func writeSubjectCase(ctx context.Context, b *strings.Builder, st eventstore.Reader, keys *personal.Keys, s domain.State, person string) error {
	_, recs, err := casefile.Load(ctx, st, s.ID)
	if err != nil {
		return err
	}
	// A case whose chain does not hold is not reported from: its entries
	// may have been edited (a value moved from one party's entry to
	// another's).
	if brk := eventstore.VerifyStream(recs); brk != nil {
		fmt.Fprintf(b, "CASE %s: NOT REPORTED: its chain breaks at version %d (%s); run caseledger verify\n\n", s.ID, brk.Version, brk.Reason)
		return errCaseChainBroken
	}
	// own: the person's parties, whose keys hold their values. theirs
	// grows with what concerns them (a follow-up, a referral), but never
	// by a party id: an entity created under another party's id (a
	// writer's doing) does not make that party theirs.
	own := map[uuid.UUID]bool{}
	theirs := map[uuid.UUID]bool{}
	parties := map[uuid.UUID]bool{}
	var roles []string
	for _, p := range s.Parties {
		parties[p.ID] = true
		if p.PersonID == person {
			own[p.ID] = true
			theirs[p.ID] = true
			roles = append(roles, string(p.Role))
		}
	}
	slices.Sort(roles)
	fmt.Fprintf(b, "CASE %s (agency %s, status %s, opened %s); this person's role: %s\n",
		s.ID, s.Agency, s.Status, s.OpenedAt.UTC().Format(time.DateOnly), strings.Join(roles, ", "))
	var sealed, others, withheld int
	for _, rec := range recs {
		e, err := casefile.Decode(rec)
		if err != nil {
			return err
		}
		if !aboutParties(e.Data, theirs, parties) {
			others++
			continue
		}
		if e.Meta.Compartment == domain.CompartmentSealed {
			sealed++
			continue
		}
		party := domain.SubjectParty(e.Data)
		mine := own[party]
		want := personal.EventSubject(s.ID, e.Data)
		fmt.Fprintf(b, "  %s  %s  %s\n", e.Meta.OccurredAt.UTC().Format("2006-01-02 15:04Z"), domain.Title(domain.SpecOf(e.Data).Type), domain.Summary(e.Data))
		if _, err := domain.MapPersonal(e.Data, func(path, v string) (string, error) {
			if v == "" {
				return v, nil
			}
			if !mine {
				withheld++
				fmt.Fprintf(b, "      %s: [withheld: free text about the case, released after review]\n", path)
				return v, nil
			}
			if domain.IsEncrypted(v) && !strings.HasPrefix(v, domain.EncryptedPrefix+want+":") {
				// Not under this party's key: moved here from elsewhere.
				fmt.Fprintf(b, "      %s: [not shown: stored under another subject's key; run caseledger verify]\n", path)
				return v, nil
			}
			clear, err := keys.Decrypt(ctx, v)
			switch {
			case errors.Is(err, personal.ErrErased):
				clear = personal.ErasedText(err)
			case errors.Is(err, personal.ErrNoKey):
				clear = "[sealed: its key is held by another node]"
			case err != nil:
				return "", fmt.Errorf("case %s, event %s: %w", s.ID, e.ID, err)
			}
			fmt.Fprintf(b, "      %s: %s\n", path, clear)
			return v, nil
		}); err != nil {
			return err
		}
	}
	fmt.Fprintf(b, "  Withheld: %d free-text values about the case, %d sealed entries; %d entries about others or the case as a whole.\n\n", withheld, sealed, others)
	return nil
}

// aboutParties reports whether an event names one of the parties, or an
// entity of theirs, in any of its ids; an entity it creates for them (its
// first id, when it names them otherwise) becomes theirs.
func aboutParties(d domain.EventData, theirs, parties map[uuid.UUID]bool) bool {
	v := reflect.ValueOf(d)
	if v.Kind() != reflect.Struct {
		return false
	}
	var ids []uuid.UUID
	for i := range v.NumField() {
		switch x := v.Field(i).Interface().(type) {
		case uuid.UUID:
			ids = append(ids, x)
		case []uuid.UUID:
			ids = append(ids, x...)
		}
	}
	for i, id := range ids {
		if theirs[id] {
			if i > 0 && !parties[ids[0]] {
				theirs[ids[0]] = true
			}
			return true
		}
	}
	return false
}
