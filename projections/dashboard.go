package projections

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// Dashboard is what DOMAIN.md's dashboards show, read from the case-files
// tables. Overdue and missed are judged against now, the reader's clock.
type Dashboard struct {
	OpenCases          int
	ClosedCases        int
	CaseloadByWorker   map[string]int            // open cases per assignee
	AwaitingAssignment map[string]int            // open, unassigned cases by risk band ("" unassessed)
	RiskDistribution   map[string]int            // open cases by current band
	OverdueFollowUps   int                       // open follow-ups past due
	ReferralsPending   int                       // sent, not yet answered
	ReferralOutcomes   map[string]map[string]int // destination → status → count
	MissedContacts     int                       // victim contacts due after a high band or a breach, unmet and past due under the rule
	ClosureReasons     map[string]int
	Reopened           int // cases reopened at least once
	ActiveConditions   int
	Breaches           int
	// RiskChanges counts moves into each band per month (YYYY-MM) of the
	// real-world time they happened: the risk picture over time.
	RiskChanges map[string]map[string]int
	// Median hours from a case's opening to the first completed contact
	// with the victim and with the aggressor, over cases that had one.
	MedianHoursToVictimContact    float64
	MedianHoursToAggressorContact float64
	MedianClosedCaseDays          float64 // opening to closing, closed cases
	SafetyPlans                   int
	RapidResponses                int // cases where the rapid-response cell was activated
	// RepeatVictims counts people who are the victim in two or more cases
	// opened within twelve months of each other.
	RepeatVictims int
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[(len(xs)-1)/2]
}

func parseTS(v string) time.Time {
	t, _ := time.Parse(tsLayout, v)
	return t
}

// heldBy is the SQL condition "the row's case is held by the agency": it
// opened the case or received it by transfer. A case only shared with the
// agency is not counted on its dashboard.
const heldBy = `case_id IN (SELECT case_id FROM case_access WHERE agency = $1 AND basis IN ('owner', 'transfer'))`

// ReadDashboard computes the dashboard of one agency's cases (those it
// holds) at now, judging first contacts by the rule.
func ReadDashboard(ctx context.Context, db *sql.DB, agency string, now time.Time, rule ContactRule) (Dashboard, error) {
	d := Dashboard{
		CaseloadByWorker: map[string]int{}, AwaitingAssignment: map[string]int{}, RiskDistribution: map[string]int{},
		ReferralOutcomes: map[string]map[string]int{}, ClosureReasons: map[string]int{}, RiskChanges: map[string]map[string]int{},
	}
	rc, err := db.QueryContext(ctx, `SELECT substr(at, 1, 7), to_band, count(*) FROM risk_changes WHERE `+heldBy+` GROUP BY substr(at, 1, 7), to_band`, agency)
	if err != nil {
		return d, fmt.Errorf("projections: dashboard: %w", err)
	}
	for rc.Next() {
		var month, band string
		var n int
		if err := rc.Scan(&month, &band, &n); err != nil {
			rc.Close()
			return d, err
		}
		if d.RiskChanges[month] == nil {
			d.RiskChanges[month] = map[string]int{}
		}
		d.RiskChanges[month][band] = n
	}
	rc.Close()
	rows, err := db.QueryContext(ctx, `SELECT status, assignee, risk, closure_reason, reopened, active_conditions, breaches, opened_at, closed_at, first_victim_contact_at, first_aggressor_contact_at, safety_plans, rapid_response FROM cases WHERE `+heldBy, agency)
	if err != nil {
		return d, fmt.Errorf("projections: dashboard: %w", err)
	}
	var toVictim, toAggressor, caseDays []float64
	for rows.Next() {
		var status, assignee, risk, reason, opened, closed, victim, aggressor string
		var reopened, conditions, breaches, plans, rapid int
		if err := rows.Scan(&status, &assignee, &risk, &reason, &reopened, &conditions, &breaches, &opened, &closed, &victim, &aggressor, &plans, &rapid); err != nil {
			rows.Close()
			return d, err
		}
		o := parseTS(opened)
		if victim != "" {
			toVictim = append(toVictim, parseTS(victim).Sub(o).Hours())
		}
		if aggressor != "" {
			toAggressor = append(toAggressor, parseTS(aggressor).Sub(o).Hours())
		}
		if status == "closed" {
			caseDays = append(caseDays, parseTS(closed).Sub(o).Hours()/24)
		}
		d.SafetyPlans += plans
		d.RapidResponses += rapid
		if reopened > 0 {
			d.Reopened++
		}
		d.ActiveConditions += conditions
		d.Breaches += breaches
		if status == "closed" {
			d.ClosedCases++
			d.ClosureReasons[reason]++
			continue
		}
		d.OpenCases++
		d.RiskDistribution[risk]++
		if assignee == "" {
			d.AwaitingAssignment[risk]++
		} else {
			d.CaseloadByWorker[assignee]++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}
	d.MedianHoursToVictimContact, d.MedianHoursToAggressorContact, d.MedianClosedCaseDays = median(toVictim), median(toAggressor), median(caseDays)
	if d.RepeatVictims, err = repeatVictims(ctx, db, agency); err != nil {
		return d, err
	}
	at := ts(now)
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM worklist WHERE `+heldBy+` AND due_by < $2`, agency, at).Scan(&d.OverdueFollowUps); err != nil {
		return d, err
	}
	if err := eachContact(ctx, db, `SELECT since, earliest_due FROM contacts_due WHERE `+heldBy, []any{agency}, rule, now, func(s ContactStatus) {
		if s.Missed {
			d.MissedContacts++
		}
	}); err != nil {
		return d, err
	}
	rows, err = db.QueryContext(ctx, `SELECT destination, status, count(*) FROM referrals WHERE `+heldBy+` GROUP BY destination, status`, agency)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	for rows.Next() {
		var dest, status string
		var n int
		if err := rows.Scan(&dest, &status, &n); err != nil {
			return d, err
		}
		if d.ReferralOutcomes[dest] == nil {
			d.ReferralOutcomes[dest] = map[string]int{}
		}
		d.ReferralOutcomes[dest][status] = n
		if status == "sent" {
			d.ReferralsPending += n
		}
	}
	return d, rows.Err()
}

// repeatVictims counts people who are the victim in two cases opened within
// twelve months of each other.
func repeatVictims(ctx context.Context, db *sql.DB, agency string) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT p.person_id, c.opened_at FROM parties p JOIN cases c ON c.case_id = p.case_id WHERE p.role = 'victim' AND c.`+heldBy, agency)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	opened := map[string][]time.Time{}
	for rows.Next() {
		var person, at string
		if err := rows.Scan(&person, &at); err != nil {
			return 0, err
		}
		opened[person] = append(opened[person], parseTS(at))
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return countRepeats(opened), nil
}

// countRepeats counts, among each person's case openings as a victim,
// those with two openings within twelve months.
func countRepeats(opened map[string][]time.Time) int {
	n := 0
	for _, ts := range opened {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(ts); i++ {
			if !ts[i].After(ts[i-1].AddDate(1, 0, 0)) {
				n++
				break
			}
		}
	}
	return n
}
