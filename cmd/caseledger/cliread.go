package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

// cliReader is who reads case data from the command line and why: export,
// replay and ledger prove record the read in the access log as the API
// does, before showing anything, so that no read of the record goes
// unrecorded and a bundle never says "exported by unknown".
type cliReader struct {
	as, purpose, agency string
}

func (c *cliReader) flags(f *flags) {
	f.StringVar(&c.as, "as", "", "who reads (required): the user id named in the access log and in any bundle")
	f.StringVar(&c.purpose, "purpose", "", "why (required), e.g. \"disclosure R. v. X\": kept in the access log")
	f.StringVar(&c.agency, "agency", "", "the reader's agency (default: the agency that holds the case)")
}

func (c cliReader) validate() error {
	var errs []error
	if strings.TrimSpace(c.as) == "" || len(c.as) > 128 {
		errs = append(errs, errors.New("--as USER is required (at most 128 characters): every read of the record is recorded with who made it"))
	}
	if strings.TrimSpace(c.purpose) == "" || len(c.purpose) > 256 {
		errs = append(errs, errors.New("--purpose is required (at most 256 characters): every read of the record is recorded with why"))
	}
	return errors.Join(errs...)
}

// actor is the reader as an auditor of agency (the case's holder unless
// --agency names another).
func (c cliReader) actor(holder string) domain.Actor {
	agency := c.agency
	if agency == "" {
		agency = holder
	}
	return domain.Actor{UserID: c.as, Role: domain.RoleAuditor, Agency: agency}
}

// record appends the read's access record to the record itself. The
// embedded store has one writer: while serve holds it, the read is
// refused (fail closed), and the API, which records its reads, is the way.
func (c cliReader) record(ctx context.Context, sc storeConfig, who domain.Actor, caseID uuid.UUID, sections []string, order uuid.UUID, denied string) error {
	return appendCLIAccess(ctx, sc, who, caseID, domain.RecordViewed{CaseID: caseID, Purpose: c.purpose, Sections: sections,
		Denied: denied != "", Reason: denied, OrderID: order})
}

// appendCLIAccess appends one access record from the command line.
func appendCLIAccess(ctx context.Context, sc storeConfig, who domain.Actor, caseID uuid.UUID, d domain.EventData) error {
	st, err := openStoreAlone(ctx, sc, "it alone writes its access log: read through the API (it records the read), or stop serve first")
	if err != nil {
		return err
	}
	defer st.Close()
	return casefile.AppendAccess(ctx, st, who, caseID, d, "cli", time.Now())
}

// recordProof records an inclusion proof asked of one event: a read of
// the log (ids and hashes only), kept with who asked and why.
func recordProof(ctx context.Context, sc storeConfig, c cliReader, event uuid.UUID) error {
	return appendCLIAccess(ctx, sc, c.actor("none"), uuid.Nil, domain.ListViewed{List: "ledger_proof", Purpose: c.purpose, Filters: []string{"event_id=" + event.String()}})
}
