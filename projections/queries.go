package projections

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/access"
)

// The case_files read model's queries: the API only speaks HTTP, and every
// filter of what a reader may see comes from the access policy
// (access.Policy for one case, access.List across cases), applied in the
// query itself so that hidden rows never leave the database. The SQL is the
// subset SQLite and PostgreSQL share ($n placeholders, text timestamps of
// fixed width).

// ErrNoCase is returned by the case queries for a case the read model does
// not hold.
var ErrNoCase = errors.New("projections: no case with this id in the read model")

// ErrBadCursor is returned for a page cursor that is not one a page gave,
// or that was given for other filters.
var ErrBadCursor = errors.New("projections: after must be the cursor a previous page gave, with the same filters")

// CaseGrants returns the agencies a case is open to, as the read model last
// folded them, or ErrNoCase: what the access policy needs to judge a read
// of the case without loading it from the record.
func CaseGrants(ctx context.Context, db *sql.DB, caseID string) (domain.State, error) {
	// One round: the case's row, and its grants beside it (none for a case
	// opened before any grant was folded).
	rows, err := db.QueryContext(ctx, `SELECT a.agency, a.from_version, a.until_version, a.basis FROM cases c
		LEFT JOIN case_access a ON a.case_id = c.case_id WHERE c.case_id = $1 ORDER BY a.from_version, a.agency`, caseID)
	if err != nil {
		return domain.State{}, err
	}
	defer rows.Close()
	var st domain.State
	found := false
	for rows.Next() {
		found = true
		var agency, basis sql.NullString
		var from, until sql.NullInt64
		if err := rows.Scan(&agency, &from, &until, &basis); err != nil {
			return domain.State{}, err
		}
		if agency.Valid {
			st.Grants = append(st.Grants, domain.Grant{Agency: agency.String, From: from.Int64, Until: until.Int64, Basis: domain.GrantBasis(basis.String)})
		}
	}
	if err := rows.Err(); err != nil {
		return domain.State{}, err
	}
	if !found {
		return domain.State{}, ErrNoCase
	}
	return st, nil
}

// scopeSQL is the policy's filter on a case's rows as SQL: the row's
// compartment among those shown and, when version is not empty, its version
// inside one of the agency's windows. It appends its arguments to args.
func scopeSQL(pol access.Policy, compartment, version string, args []any) (string, []any) {
	in, args := inList(pol.Compartments(), args)
	q := compartment + " IN " + in
	if version == "" {
		return q, args
	}
	var ws []string
	for _, w := range pol.Windows() {
		args = append(args, w.From)
		c := fmt.Sprintf("%s >= $%d", version, len(args))
		if w.Until >= 0 {
			args = append(args, w.Until)
			c += fmt.Sprintf(" AND %s < $%d", version, len(args))
		}
		ws = append(ws, "("+c+")")
	}
	if len(ws) == 0 {
		ws = []string{"1 = 0"}
	}
	return q + " AND (" + strings.Join(ws, " OR ") + ")", args
}

// inList returns "($k, …)" for the compartments appended to args; an empty
// list matches nothing.
func inList(cs []domain.Compartment, args []any) (string, []any) {
	if len(cs) == 0 {
		return "(NULL)", args
	}
	marks := make([]string, len(cs))
	for i, c := range cs {
		args = append(args, string(c))
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	return "(" + strings.Join(marks, ", ") + ")", args
}

// CaseView is a case's current state as a reader may see it.
type CaseView struct {
	CaseID           string        `json:"case_id"`
	Status           string        `json:"status"`
	Module           string        `json:"module"`
	Agency           string        `json:"agency"`
	Assignee         string        `json:"assignee"`
	Risk             string        `json:"risk"`
	OpenedAt         string        `json:"opened_at"`
	ClosedAt         string        `json:"closed_at,omitempty"`
	Version          int64         `json:"version"`
	Parties          int           `json:"parties"`
	OpenReferrals    int           `json:"open_referrals"`
	OpenFollowUps    int           `json:"open_follow_ups"`
	ActiveConditions int           `json:"active_conditions"`
	UnmetContacts    int           `json:"unmet_contacts"`  // victim contacts owed and not planned in time
	MissedContacts   int           `json:"missed_contacts"` // of those, past due
	PartyList        []PartyRow    `json:"party_list"`
	RiskHistory      []RiskRow     `json:"risk_history"`
	Referrals        []ReferralRow `json:"referrals"`
	FollowUps        []FollowUpRow `json:"follow_ups"` // open, by due date, overdue first
	Items            []ItemRow     `json:"items"`      // conditions, consents, flags, legal holds
}

// PartyRow is a party of a case.
type PartyRow struct {
	PartyID     string `json:"party_id"`
	PersonID    string `json:"person_id"`
	Role        string `json:"role"`
	Compartment string `json:"compartment"`
}

// RiskRow is one move of a case's risk band.
type RiskRow struct {
	EventID string `json:"event_id"`
	At      string `json:"at"`
	From    string `json:"from_band"`
	To      string `json:"to_band"`
	Trigger string `json:"trigger"`
}

// ReferralRow is a referral; CaseID is set on lists across cases.
type ReferralRow struct {
	ReferralID  string `json:"referral_id"`
	CaseID      string `json:"case_id,omitempty"`
	Destination string `json:"destination"`
	Agency      string `json:"agency"`
	PartyRole   string `json:"party_role,omitempty"`
	Status      string `json:"status"`
	WithConsent bool   `json:"with_consent"`
	OfferedAt   string `json:"offered_at,omitempty"`
	SentAt      string `json:"sent_at"`
	AnsweredAt  string `json:"answered_at"`
	Compartment string `json:"compartment,omitempty"`
}

// FollowUpRow is an open follow-up; CaseID is set on worklists.
type FollowUpRow struct {
	FollowUpID  string `json:"follow_up_id"`
	CaseID      string `json:"case_id,omitempty"`
	PartyID     string `json:"party_id"`
	PartyRole   string `json:"party_role"`
	Kind        string `json:"kind"`
	DueBy       string `json:"due_by"`
	Assignee    string `json:"assignee,omitempty"`
	Attempts    int    `json:"attempts"`
	Compartment string `json:"compartment"`
	Overdue     bool   `json:"overdue"`
}

// ItemRow is a condition, consent, flag or legal hold.
type ItemRow struct {
	ItemID      string `json:"item_id"`
	Kind        string `json:"kind"`
	Active      bool   `json:"active"`
	Detail      string `json:"detail"`
	EndsAt      string `json:"ends_at"`
	Compartment string `json:"compartment"`
}

// ReadCase returns the case as pol lets its reader see it: every list, and
// every count, limited to the compartments and agency windows the policy
// shows, so that a number hints at nothing hidden. It returns ErrNoCase
// for a case the read model does not hold.
func ReadCase(ctx context.Context, db *sql.DB, caseID string, pol access.Policy, rule ContactRule, now time.Time) (CaseView, error) {
	var c CaseView
	err := db.QueryRowContext(ctx, `SELECT case_id, status, module, agency, assignee, risk, opened_at, closed_at, version FROM cases WHERE case_id = $1`, caseID).
		Scan(&c.CaseID, &c.Status, &c.Module, &c.Agency, &c.Assignee, &c.Risk, &c.OpenedAt, &c.ClosedAt, &c.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNoCase
	}
	if err != nil {
		return c, err
	}
	if c.UnmetContacts, c.MissedContacts, err = CaseContacts(ctx, db, caseID, rule, now); err != nil {
		return c, err
	}
	// Each list's rows come from an entry: its compartment and version are
	// the timeline's, so one join applies the whole policy.
	where, args := scopeSQL(pol, "t.compartment", "t.version", []any{caseID})
	join := func(table, alias, eventCol string) string {
		return ` FROM ` + table + ` ` + alias + ` JOIN timeline t ON t.case_id = ` + alias + `.case_id AND t.event_id = ` + alias + `.` + eventCol +
			` WHERE ` + alias + `.case_id = $1 AND ` + where
	}
	nowTS := ts(now)
	c.PartyList, c.RiskHistory, c.Referrals, c.FollowUps, c.Items = []PartyRow{}, []RiskRow{}, []ReferralRow{}, []FollowUpRow{}, []ItemRow{}
	err = each(ctx, db, `SELECT p.party_id, p.person_id, p.role, t.compartment`+join("parties", "p", "event_id")+` ORDER BY p.party_id`, args, func(s scanner) error {
		var r PartyRow
		err := s.Scan(&r.PartyID, &r.PersonID, &r.Role, &r.Compartment)
		c.PartyList = append(c.PartyList, r)
		return err
	})
	if err == nil {
		err = each(ctx, db, `SELECT r.event_id, r.at, r.from_band, r.to_band, r.trigger`+join("risk_changes", "r", "event_id")+` ORDER BY r.at, r.event_id`, args, func(s scanner) error {
			var r RiskRow
			err := s.Scan(&r.EventID, &r.At, &r.From, &r.To, &r.Trigger)
			c.RiskHistory = append(c.RiskHistory, r)
			return err
		})
	}
	if err == nil {
		err = each(ctx, db, `SELECT r.referral_id, r.destination, r.agency, r.party_role, r.status, r.with_consent, r.offered_at, r.sent_at, r.answered_at, t.compartment`+
			join("referrals", "r", "event_id")+` ORDER BY r.referral_id`, args, func(s scanner) error {
			var r ReferralRow
			var consent int
			err := s.Scan(&r.ReferralID, &r.Destination, &r.Agency, &r.PartyRole, &r.Status, &consent, &r.OfferedAt, &r.SentAt, &r.AnsweredAt, &r.Compartment)
			r.WithConsent = consent == 1
			c.Referrals = append(c.Referrals, r)
			return err
		})
	}
	if err == nil {
		err = each(ctx, db, `SELECT w.follow_up_id, w.party_id, w.party_role, w.kind, w.due_by, w.assignee, w.attempts, t.compartment`+
			join("worklist", "w", "event_id")+` ORDER BY w.due_by, w.follow_up_id`, args, func(s scanner) error {
			var r FollowUpRow
			err := s.Scan(&r.FollowUpID, &r.PartyID, &r.PartyRole, &r.Kind, &r.DueBy, &r.Assignee, &r.Attempts, &r.Compartment)
			r.Overdue = r.DueBy < nowTS
			c.FollowUps = append(c.FollowUps, r)
			return err
		})
	}
	if err == nil {
		err = each(ctx, db, `SELECT i.item_id, i.kind, i.active, i.detail, i.ends_at, t.compartment`+join("case_items", "i", "event_id")+` ORDER BY i.kind, i.item_id`, args, func(s scanner) error {
			var r ItemRow
			var active int
			err := s.Scan(&r.ItemID, &r.Kind, &active, &r.Detail, &r.EndsAt, &r.Compartment)
			r.Active = active == 1
			c.Items = append(c.Items, r)
			return err
		})
	}
	if err != nil {
		return c, err
	}
	c.Parties, c.OpenFollowUps = len(c.PartyList), len(c.FollowUps)
	for _, r := range c.Referrals {
		switch domain.ReferralStatus(r.Status) {
		case domain.ReferralOfferedStatus, domain.ReferralSentStatus, domain.ReferralAcceptedStatus, domain.ReferralStartedStatus:
			c.OpenReferrals++
		}
	}
	for _, it := range c.Items {
		if it.Kind == "condition" && it.Active {
			c.ActiveConditions++
		}
	}
	return c, nil
}

// TimelineEntry is one entry of a timeline: who, what, when, in which
// compartment, and the entry it annotates, if any; never a personal field.
type TimelineEntry struct {
	Version     int64  `json:"version"`
	EventID     string `json:"event_id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Summary     string `json:"summary"`
	OccurredAt  string `json:"occurred_at"`
	RecordedAt  string `json:"recorded_at"`
	Actor       string `json:"actor"`
	Role        string `json:"role"`
	Agency      string `json:"agency"`
	Compartment string `json:"compartment"`
	Targets     string `json:"targets,omitempty"`
}

// ReadTimeline returns up to limit entries of the case after version
// after, as pol shows them, and whether more follow.
func ReadTimeline(ctx context.Context, db *sql.DB, caseID string, pol access.Policy, after int64, limit int) ([]TimelineEntry, bool, error) {
	where, args := scopeSQL(pol, "t.compartment", "t.version", []any{caseID, after})
	// A correction, redaction or marking in error of an entry the reader
	// may not see is not shown either (access.Policy.ShowsAnnotation).
	target, args := scopeSQL(pol, "a.compartment", "a.version", args)
	args = append(args, limit+1)
	out := []TimelineEntry{}
	err := each(ctx, db, `SELECT t.version, t.event_id, t.type, t.title, t.summary, t.occurred_at, t.recorded_at, t.actor_user, t.actor_role, t.actor_agency, t.compartment, t.target_event_id
		FROM timeline t WHERE t.case_id = $1 AND t.version > $2 AND `+where+`
		AND (t.target_event_id = '' OR EXISTS (SELECT 1 FROM timeline a WHERE a.case_id = t.case_id AND a.event_id = t.target_event_id AND `+target+`))`+
		fmt.Sprintf(` ORDER BY t.version LIMIT $%d`, len(args)), args, func(s scanner) error {
		var e TimelineEntry
		err := s.Scan(&e.Version, &e.EventID, &e.Type, &e.Title, &e.Summary, &e.OccurredAt, &e.RecordedAt, &e.Actor, &e.Role, &e.Agency, &e.Compartment, &e.Targets)
		out = append(out, e)
		return err
	})
	if len(out) > limit {
		return out[:limit], true, err
	}
	return out, false, err
}

// Page is a request for one page of a list: at most Limit rows after the
// cursor a previous page gave (empty for the first).
type Page struct {
	Limit int
	After string
}

// cursor is where a list page ended: the sort key and id of its last row,
// and the filters the list was read with, so that a cursor followed with
// other filters is refused rather than silently switching lists.
type cursor struct {
	Key     string `json:"k"`
	ID      string `json:"i"`
	Filters string `json:"f,omitempty"`
}

func (p Page) cursor(filters string) (cursor, error) {
	if p.After == "" {
		return cursor{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(p.After)
	var c cursor
	if err != nil || json.Unmarshal(raw, &c) != nil || c.Filters != filters {
		return cursor{}, ErrBadCursor
	}
	return c, nil
}

func nextCursor(key, id, filters string) string {
	b, _ := json.Marshal(cursor{Key: key, ID: id, Filters: filters})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Listed is one page of a list across cases: its rows, the cases they
// reveal (each gets an access record before the page is sent), and the
// cursor of the next page ("" on the last).
type Listed[T any] struct {
	Rows  []T
	Cases []string
	Next  string
}

// listPage runs a keyset-paged query whose first selected columns are the
// sort key, the row id and the case id, then the row's own (scanned by
// row), ordered by key and id.
func listPage[T any](ctx context.Context, db *sql.DB, p Page, filters, q string, args []any, row func(s scanner, key, id, caseID *string) (T, error)) (Listed[T], error) {
	c, err := p.cursor(filters)
	if err != nil {
		return Listed[T]{}, err
	}
	args = append(args, c.Key, c.ID, p.Limit+1)
	n := len(args)
	q = `SELECT * FROM (` + q + fmt.Sprintf(`) page WHERE sort_key > $%d OR (sort_key = $%d AND row_id > $%d) ORDER BY sort_key, row_id LIMIT $%d`, n-2, n-2, n-1, n)
	out := Listed[T]{Rows: []T{}}
	var lastKey, lastID string
	err = each(ctx, db, q, args, func(s scanner) error {
		if len(out.Rows) == p.Limit {
			out.Next = nextCursor(lastKey, lastID, filters)
			return nil
		}
		var key, id, caseID string
		r, err := row(s, &key, &id, &caseID)
		out.Rows = append(out.Rows, r)
		out.Cases = append(out.Cases, caseID)
		lastKey, lastID = key, id
		return err
	})
	return out, err
}

// openToAgency is the policy's filter on rows of cases across the read
// model: the entry behind the row (eventCol) is inside one of the windows
// through which its case is open to the reader's agency.
func openToAgency(caseCol, eventCol string, l access.List, args []any) (string, []any) {
	args = append(args, l.Agency())
	return fmt.Sprintf(`EXISTS (SELECT 1 FROM case_access a JOIN timeline e ON e.case_id = a.case_id
		WHERE a.case_id = %s AND a.agency = $%d AND e.event_id = %s AND e.version >= a.from_version AND (a.until_version < 0 OR e.version < a.until_version))`,
		caseCol, len(args), eventCol), args
}

// ReadWorklist returns one page of a worker's open follow-ups by due date,
// overdue first (they are due earliest), in the cases and compartments l
// opens.
func ReadWorklist(ctx context.Context, db *sql.DB, l access.List, assignee string, p Page, now time.Time) (Listed[FollowUpRow], error) {
	in, args := inList(l.Compartments(), []any{assignee})
	open, args := openToAgency("w.case_id", "w.event_id", l, args)
	nowTS := ts(now)
	return listPage(ctx, db, p, "assignee="+assignee, `SELECT w.due_by AS sort_key, w.follow_up_id AS row_id, w.case_id, w.party_id, w.party_role, w.kind, w.attempts, w.compartment
		FROM worklist w WHERE w.assignee = $1 AND w.compartment IN `+in+` AND `+open, args,
		func(s scanner, key, id, caseID *string) (FollowUpRow, error) {
			var r FollowUpRow
			err := s.Scan(key, id, caseID, &r.PartyID, &r.PartyRole, &r.Kind, &r.Attempts, &r.Compartment)
			r.DueBy, r.FollowUpID, r.CaseID, r.Overdue = *key, *id, *caseID, *key < nowTS
			return r, err
		})
}

// ReadReferrals returns one page of sent referrals by date sent: a
// partner's, those addressed to its agency; a supervisor's or auditor's,
// those of the cases open to their agency, in their compartments.
func ReadReferrals(ctx context.Context, db *sql.DB, l access.List, p Page) (Listed[ReferralRow], error) {
	in, args := inList(l.Compartments(), nil)
	where := `r.sent_at <> '' AND r.compartment IN ` + in
	if l.AddressedOnly() {
		args = append(args, l.Agency())
		where += fmt.Sprintf(` AND r.agency = $%d`, len(args))
	} else {
		var open string
		open, args = openToAgency("r.case_id", "r.event_id", l, args)
		where += ` AND ` + open
	}
	return listPage(ctx, db, p, "", `SELECT r.sent_at AS sort_key, r.referral_id AS row_id, r.case_id, r.destination, r.agency, r.status, r.answered_at
		FROM referrals r WHERE `+where, args,
		func(s scanner, key, id, caseID *string) (ReferralRow, error) {
			var r ReferralRow
			err := s.Scan(key, id, caseID, &r.Destination, &r.Agency, &r.Status, &r.AnsweredAt)
			r.SentAt, r.ReferralID, r.CaseID = *key, *id, *caseID
			return r, err
		})
}

// PersonCase is a case a person is a party to.
type PersonCase struct {
	CaseID    string `json:"case_id"`
	PartyRole string `json:"party_role"`
	Status    string `json:"status"`
	Risk      string `json:"risk"`
	OpenedAt  string `json:"opened_at"`
}

// PersonCases returns one page of the cases a person (by master name index
// id) is a party to, by opening date: a party identified in a compartment
// or a case the reader may not see does not reveal the case either.
func PersonCases(ctx context.Context, db *sql.DB, l access.List, person string, p Page) (Listed[PersonCase], error) {
	in, args := inList(l.Compartments(), []any{person})
	open, args := openToAgency("p.case_id", "p.event_id", l, args)
	return listPage(ctx, db, p, "person="+person, `SELECT c.opened_at AS sort_key, p.case_id AS row_id, p.role, c.status, c.risk
		FROM parties p JOIN cases c ON c.case_id = p.case_id WHERE p.person_id = $1 AND p.compartment IN `+in+` AND `+open, args,
		func(s scanner, key, id, caseID *string) (PersonCase, error) {
			var r PersonCase
			err := s.Scan(key, id, &r.PartyRole, &r.Status, &r.Risk)
			r.OpenedAt, r.CaseID, *caseID = *key, *id, *id
			return r, err
		})
}

type scanner interface{ Scan(dest ...any) error }

// each runs q and calls fn for every row.
func each(ctx context.Context, db *sql.DB, q string, args []any, fn func(scanner) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
