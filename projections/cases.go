package projections

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/google/uuid"
)

// CaseFiles is the read model of every case's current state (table cases),
// its timeline (table timeline: every event with actor, times, its current
// compartment, and the entry a correction, redaction or marking in error
// targets), and
// the workers' worklists (table worklist: open follow-ups by due date).
// Overdue is derived when read, against the reader's clock.
type CaseFiles struct{}

// Name is frozen: it keys the checkpoint.
func (CaseFiles) Name() string { return "case_files" }

// SchemaVersion changes whenever the tables do; a read model built with
// another version is dropped and rebuilt from zero (version 2: contact
// obligations keep their earliest answer, judged by the rule when read;
// version 3: case_items, and the compartment of parties, referrals and
// worklist rows; version 4: case_access, the agencies a case is open to,
// and the entry behind each party, referral and worklist row).
func (CaseFiles) SchemaVersion() int { return 4 }

// Tables lists the tables the projection owns, for dropping on an upgrade.
func (CaseFiles) Tables() []string {
	return []string{"cases", "timeline", "worklist", "referrals", "contacts_due", "parties", "risk_changes", "case_items", "case_access"}
}

// Schema creates the tables in SQL that SQLite and PostgreSQL both read.
func (CaseFiles) Schema() []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS cases (
			case_id TEXT PRIMARY KEY, status TEXT NOT NULL, module TEXT NOT NULL, agency TEXT NOT NULL,
			assignee TEXT NOT NULL, risk TEXT NOT NULL, opened_at TEXT NOT NULL, closed_at TEXT NOT NULL,
			version INTEGER NOT NULL, parties INTEGER NOT NULL, open_referrals INTEGER NOT NULL,
			open_follow_ups INTEGER NOT NULL, active_conditions INTEGER NOT NULL, breaches INTEGER NOT NULL,
			open_flags INTEGER NOT NULL, active_holds INTEGER NOT NULL,
			reopened INTEGER NOT NULL, closure_reason TEXT NOT NULL, updated_at TEXT NOT NULL,
			first_victim_contact_at TEXT NOT NULL, first_aggressor_contact_at TEXT NOT NULL,
			safety_plans INTEGER NOT NULL, rapid_response INTEGER NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS timeline (
			case_id TEXT NOT NULL, version INTEGER NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL,
			title TEXT NOT NULL, summary TEXT NOT NULL, occurred_at TEXT NOT NULL, recorded_at TEXT NOT NULL,
			actor_user TEXT NOT NULL, actor_role TEXT NOT NULL, actor_agency TEXT NOT NULL,
			compartment TEXT NOT NULL, target_event_id TEXT NOT NULL, PRIMARY KEY (case_id, version))`,
		`CREATE TABLE IF NOT EXISTS worklist (
			follow_up_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, party_id TEXT NOT NULL, party_role TEXT NOT NULL,
			kind TEXT NOT NULL, due_by TEXT NOT NULL, assignee TEXT NOT NULL, attempts INTEGER NOT NULL,
			compartment TEXT NOT NULL, event_id TEXT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS worklist_by_assignee ON worklist (assignee, due_by)`,
		`CREATE TABLE IF NOT EXISTS referrals (
			referral_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, destination TEXT NOT NULL, agency TEXT NOT NULL,
			party_role TEXT NOT NULL, status TEXT NOT NULL, with_consent INTEGER NOT NULL,
			offered_at TEXT NOT NULL, sent_at TEXT NOT NULL, answered_at TEXT NOT NULL, compartment TEXT NOT NULL,
			event_id TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS contacts_due (
			case_id TEXT NOT NULL, event_id TEXT NOT NULL, reason TEXT NOT NULL, since TEXT NOT NULL,
			earliest_due TEXT NOT NULL, earliest_follow_up TEXT NOT NULL, PRIMARY KEY (case_id, event_id))`,
		`CREATE TABLE IF NOT EXISTS parties (
			case_id TEXT NOT NULL, party_id TEXT NOT NULL, person_id TEXT NOT NULL, role TEXT NOT NULL,
			compartment TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (case_id, party_id))`,
		`CREATE INDEX IF NOT EXISTS parties_by_person ON parties (person_id)`,
		`CREATE TABLE IF NOT EXISTS case_items (
			case_id TEXT NOT NULL, item_id TEXT NOT NULL, kind TEXT NOT NULL, event_id TEXT NOT NULL,
			compartment TEXT NOT NULL, active INTEGER NOT NULL, detail TEXT NOT NULL, ends_at TEXT NOT NULL,
			PRIMARY KEY (case_id, item_id))`,
		`CREATE TABLE IF NOT EXISTS risk_changes (
			case_id TEXT NOT NULL, event_id TEXT PRIMARY KEY, at TEXT NOT NULL,
			from_band TEXT NOT NULL, to_band TEXT NOT NULL, trigger TEXT NOT NULL)`,
		// The agencies a case is open to, from which version to which
		// (until_version -1 while open): access.Policy's windows.
		`CREATE TABLE IF NOT EXISTS case_access (
			case_id TEXT NOT NULL, agency TEXT NOT NULL, from_version INTEGER NOT NULL, until_version INTEGER NOT NULL,
			basis TEXT NOT NULL, PRIMARY KEY (case_id, agency, from_version))`,
		// Rows are rewritten and read per case: without these, each was a
		// scan of the whole table.
		`CREATE INDEX IF NOT EXISTS referrals_by_case ON referrals (case_id)`,
		`CREATE INDEX IF NOT EXISTS worklist_by_case ON worklist (case_id)`,
		`CREATE INDEX IF NOT EXISTS risk_changes_by_case ON risk_changes (case_id)`,
	}
}

// Reset empties the tables.
func (CaseFiles) Reset(ctx context.Context, tx *sql.Tx) error {
	for _, q := range []string{`DELETE FROM cases`, `DELETE FROM timeline`, `DELETE FROM worklist`, `DELETE FROM referrals`, `DELETE FROM contacts_due`, `DELETE FROM risk_changes`, `DELETE FROM parties`, `DELETE FROM case_items`, `DELETE FROM case_access`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// tsLayout is fixed-width so that stored times compare as text in both
// SQLite and PostgreSQL.
const tsLayout = "2006-01-02T15:04:05.000000000Z"

// TS formats a time as the read model stores it, for comparisons in SQL
// or with stored values.
func TS(t time.Time) string { return ts(t) }

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(tsLayout)
}

const (
	timelineCols  = 13
	timelineChunk = 64
)

var (
	timelineInsert1     = multiInsert(1)
	timelineInsertChunk = multiInsert(timelineChunk)
)

// multiInsert is the timeline's INSERT of n rows.
func multiInsert(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO timeline (case_id, version, event_id, type, title, summary, occurred_at, recorded_at, actor_user, actor_role, actor_agency, compartment, target_event_id) VALUES `)
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range timelineCols {
			if c > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", r*timelineCols+c+1)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Apply inserts each event's timeline row, then rewrites the case row and
// worklist rows of every case the batch touched, once, from its last state.
func (CaseFiles) Apply(ctx context.Context, tx *sql.Tx, batch []Change) error {
	x := newExecer(tx, remote(ctx))
	defer x.close()
	last := map[uuid.UUID]Change{}
	var order []uuid.UUID
	// Timeline rows go in by the chunk where the database is a round trip
	// away (PostgreSQL); SQLite binds many $N parameters slowly, so it
	// takes them one prepared row at a time. A reclassification flushes
	// first, since it updates a row that may still be waiting.
	chunk := 1
	if x.remote {
		chunk = timelineChunk
	}
	rows := make([]any, 0, chunk*timelineCols)
	flush := func() error {
		for len(rows) > 0 {
			n, q := 1, timelineInsert1
			if len(rows) >= timelineChunk*timelineCols {
				n, q = timelineChunk, timelineInsertChunk
			}
			if err := x.exec(ctx, q, rows[:n*timelineCols]...); err != nil {
				return err
			}
			rows = rows[n*timelineCols:]
		}
		return nil
	}
	for _, c := range batch {
		e := c.Event
		tgt := ""
		if id := domain.Annotated(e.Data); id != uuid.Nil {
			tgt = id.String()
		}
		rows = append(rows, e.CaseID.String(), c.Record.Version, e.ID.String(), e.Type(), domain.Title(e.Type()), domain.Summary(e.Data),
			ts(e.Meta.OccurredAt), ts(e.Meta.RecordedAt), e.Meta.Actor.UserID, string(e.Meta.Actor.Role), e.Meta.Actor.Agency,
			string(e.Meta.Compartment), tgt)
		if len(rows) >= chunk*timelineCols {
			if err := flush(); err != nil {
				return err
			}
		}
		if ec, ok := e.Data.(domain.EntryCorrected); ok && ec.NewCompartment != "" {
			// A reclassified entry leaves the view of those who may no
			// longer see it: the filter reads this column.
			if err := flush(); err != nil {
				return err
			}
			if err := x.exec(ctx, `UPDATE timeline SET compartment = $1 WHERE case_id = $2 AND event_id = $3`,
				string(ec.NewCompartment), e.CaseID.String(), ec.TargetEventID.String()); err != nil {
				return err
			}
		}
		if rc, ok := e.Data.(domain.RiskLevelChanged); ok {
			if err := x.exec(ctx, `INSERT INTO risk_changes (case_id, event_id, at, from_band, to_band, trigger) VALUES ($1, $2, $3, $4, $5, $6)`,
				e.CaseID.String(), e.ID.String(), ts(e.Meta.OccurredAt), string(rc.From), string(rc.To), string(rc.Trigger)); err != nil {
				return err
			}
		}
		if _, seen := last[e.CaseID]; !seen {
			order = append(order, e.CaseID)
		}
		last[e.CaseID] = c
	}
	if err := flush(); err != nil {
		return err
	}
	for _, id := range order {
		if err := writeCase(ctx, x, id, last[id].State, last[id].Event.Meta.RecordedAt); err != nil {
			return err
		}
	}
	return nil
}

func writeCase(ctx context.Context, x *execer, id uuid.UUID, s domain.State, updated time.Time) error {
	openReferrals, breaches, openFlags, activeHolds := 0, 0, 0, 0
	for _, r := range s.Referrals {
		switch r.Status {
		case domain.ReferralOfferedStatus, domain.ReferralSentStatus, domain.ReferralAcceptedStatus, domain.ReferralStartedStatus:
			openReferrals++
		}
	}
	breaches = len(s.Breaches)
	for _, f := range s.Flags {
		if f.Open {
			openFlags++
		}
	}
	for _, h := range s.Holds {
		if h.Active {
			activeHolds++
		}
	}
	victim, aggressor := FirstContacts(s)
	rapid := 0
	if s.Rapid.CellID != uuid.Nil {
		rapid = 1
	}
	if err := x.exec(ctx, `INSERT INTO cases (case_id, status, module, agency, assignee, risk, opened_at, closed_at, version, parties, open_referrals, open_follow_ups, active_conditions, breaches, open_flags, active_holds, reopened, closure_reason, updated_at, first_victim_contact_at, first_aggressor_contact_at, safety_plans, rapid_response)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
		ON CONFLICT (case_id) DO UPDATE SET status = excluded.status, module = excluded.module, agency = excluded.agency,
			assignee = excluded.assignee, risk = excluded.risk, opened_at = excluded.opened_at, closed_at = excluded.closed_at,
			version = excluded.version, parties = excluded.parties, open_referrals = excluded.open_referrals,
			open_follow_ups = excluded.open_follow_ups, active_conditions = excluded.active_conditions, breaches = excluded.breaches,
			open_flags = excluded.open_flags, active_holds = excluded.active_holds,
			reopened = excluded.reopened, closure_reason = excluded.closure_reason, updated_at = excluded.updated_at,
			first_victim_contact_at = excluded.first_victim_contact_at, first_aggressor_contact_at = excluded.first_aggressor_contact_at,
			safety_plans = excluded.safety_plans, rapid_response = excluded.rapid_response`,
		id.String(), string(s.Status), string(s.Module), s.Agency, s.Assignee, string(s.Risk), ts(s.OpenedAt), ts(s.ClosedAt),
		s.Version, len(s.Parties), openReferrals, s.OpenFollowUps(), s.ActiveConditions(), breaches, openFlags, activeHolds,
		s.Reopened, string(s.ClosedReason), ts(updated), ts(victim), ts(aggressor), len(s.SafetyPlans), rapid); err != nil {
		return err
	}
	if err := x.exec(ctx, `DELETE FROM worklist WHERE case_id = $1`, id.String()); err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM referrals WHERE case_id = $1`, `DELETE FROM contacts_due WHERE case_id = $1`, `DELETE FROM parties WHERE case_id = $1`, `DELETE FROM case_items WHERE case_id = $1`, `DELETE FROM case_access WHERE case_id = $1`} {
		if err := x.exec(ctx, q, id.String()); err != nil {
			return err
		}
	}
	for _, r := range s.Referrals {
		consent := 0
		if r.WithConsent {
			consent = 1
		}
		if err := x.exec(ctx, `INSERT INTO referrals (referral_id, case_id, destination, agency, party_role, status, with_consent, offered_at, sent_at, answered_at, compartment, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			r.ID.String(), id.String(), string(r.Destination), r.Agency, string(s.Parties[r.PartyID].Role), string(r.Status), consent, ts(r.OfferedAt), ts(r.SentAt), ts(r.AnsweredAt),
			string(s.Entries[r.EventID].Compartment), r.EventID.String()); err != nil {
			return err
		}
	}
	for _, p := range s.Parties {
		if err := x.exec(ctx, `INSERT INTO parties (case_id, party_id, person_id, role, compartment, event_id) VALUES ($1, $2, $3, $4, $5, $6)`,
			id.String(), p.ID.String(), p.PersonID, string(p.Role), string(s.Entries[p.EventID].Compartment), p.EventID.String()); err != nil {
			return err
		}
	}
	for _, g := range s.Grants {
		if err := x.exec(ctx, `INSERT INTO case_access (case_id, agency, from_version, until_version, basis) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (case_id, agency, from_version) DO NOTHING`,
			id.String(), g.Agency, g.From, g.Until, string(g.Basis)); err != nil {
			return err
		}
	}
	// Whether an obligation was met depends on the first-contact rule,
	// which is applied when read (ContactRule): the row keeps when it arose
	// and the soonest-due victim follow-up that could answer it.
	for _, c := range s.ContactsDue {
		answer := ""
		if c.EarliestID != uuid.Nil {
			answer = c.EarliestID.String()
		}
		if err := x.exec(ctx, `INSERT INTO contacts_due (case_id, event_id, reason, since, earliest_due, earliest_follow_up) VALUES ($1, $2, $3, $4, $5, $6)`,
			id.String(), c.EventID.String(), c.Reason, ts(c.Since), ts(c.Earliest), answer); err != nil {
			return err
		}
	}
	for _, it := range items(s) {
		if err := x.exec(ctx, `INSERT INTO case_items (case_id, item_id, kind, event_id, compartment, active, detail, ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			id.String(), it.id.String(), it.kind, it.event.String(), string(s.Entries[it.event].Compartment), it.active, it.detail, ts(it.ends)); err != nil {
			return err
		}
	}
	var open []domain.FollowUp
	for _, f := range s.FollowUps {
		if f.Status == domain.FollowUpOpen {
			open = append(open, f)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].ID.String() < open[j].ID.String() })
	for _, f := range open {
		if err := x.exec(ctx, `INSERT INTO worklist (follow_up_id, case_id, party_id, party_role, kind, due_by, assignee, attempts, compartment, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			f.ID.String(), id.String(), f.PartyID.String(), string(s.Parties[f.PartyID].Role), string(f.Kind), ts(f.DueBy), f.Assignee, f.Attempts,
			string(s.Entries[f.EventID].Compartment), f.EventID.String()); err != nil {
			return err
		}
	}
	return nil
}

// FirstContacts returns when the victim side and the aggressor side were
// first reached (the earliest completed follow-up with a party of each
// side); zero when not yet.
func FirstContacts(s domain.State) (victim, aggressor time.Time) {
	for _, f := range s.FollowUps {
		if f.Status != domain.FollowUpDone {
			continue
		}
		switch s.Parties[f.PartyID].Role {
		case domain.PartyVictim:
			if victim.IsZero() || f.DoneAt.Before(victim) {
				victim = f.DoneAt
			}
		case domain.PartySuspect:
			if aggressor.IsZero() || f.DoneAt.Before(aggressor) {
				aggressor = f.DoneAt
			}
		}
	}
	return victim, aggressor
}

// execer prepares each statement once per transaction: parsing the SQL
// again for every row cost a fifth of a rebuild.
type execer struct {
	tx     *sql.Tx
	stmts  map[string]*sql.Stmt
	remote bool // a round trip per statement: worth multi-row inserts
}

func newExecer(tx *sql.Tx, remote bool) *execer {
	return &execer{tx: tx, stmts: map[string]*sql.Stmt{}, remote: remote}
}

func (x *execer) exec(ctx context.Context, q string, args ...any) error {
	st, ok := x.stmts[q]
	if !ok {
		var err error
		if st, err = x.tx.PrepareContext(ctx, q); err != nil {
			return err
		}
		x.stmts[q] = st
	}
	_, err := st.ExecContext(ctx, args...)
	return err
}

func (x *execer) close() {
	for _, st := range x.stmts {
		st.Close()
	}
}

// item is a condition, consent, flag or legal hold of a case, as the case
// page lists them: ids, kinds and dates, no personal field. Its compartment
// is that of the entry that created it, reclassification included.
type item struct {
	id, event uuid.UUID
	kind      string
	active    int
	detail    string
	ends      time.Time
}

func items(s domain.State) []item {
	var out []item
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	for _, c := range s.Conditions {
		d := fmt.Sprintf("%s bound=%s protected=%d no_contact=%t", c.Kind, c.BoundPartyID, len(c.Protected), c.NoContact)
		if c.Distance > 0 {
			d += fmt.Sprintf(" distance=%dm", c.Distance)
		}
		if c.Breaches > 0 {
			d += fmt.Sprintf(" breaches=%d", c.Breaches)
		}
		out = append(out, item{c.ID, c.EventID, "condition", b(c.Active), d, c.EndsAt})
	}
	for _, c := range s.Consents {
		d := fmt.Sprintf("%s party=%s destination=%s", c.Scope, c.PartyID, c.Destination)
		if c.Agency != "" {
			d += " agency=" + c.Agency
		}
		out = append(out, item{c.ID, c.EventID, "consent", b(c.Active), d, c.ExpiresAt})
	}
	for _, f := range s.Flags {
		out = append(out, item{f.ID, f.EventID, "flag", b(f.Open), string(f.Kind), time.Time{}})
	}
	for _, h := range s.Holds {
		out = append(out, item{h.ID, h.EventID, "legal_hold", b(h.Active), fmt.Sprintf("%s matter=%s", h.Scope, h.Matter), time.Time{}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id.String() < out[j].id.String() })
	return out
}
