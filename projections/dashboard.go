package projections

import (
	"context"
	"database/sql"
	"fmt"
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
	MissedContacts     int                       // victim contacts due after a high band or a breach, unmet and past due
	ClosureReasons     map[string]int
	Reopened           int // cases reopened at least once
	ActiveConditions   int
	Breaches           int
	// RiskChanges counts moves into each band per month (YYYY-MM) of the
	// real-world time they happened: the risk picture over time.
	RiskChanges map[string]map[string]int
}

// ReadDashboard computes the dashboard.
func ReadDashboard(ctx context.Context, db *sql.DB, now time.Time) (Dashboard, error) {
	d := Dashboard{
		CaseloadByWorker: map[string]int{}, AwaitingAssignment: map[string]int{}, RiskDistribution: map[string]int{},
		ReferralOutcomes: map[string]map[string]int{}, ClosureReasons: map[string]int{}, RiskChanges: map[string]map[string]int{},
	}
	rc, err := db.QueryContext(ctx, `SELECT substr(at, 1, 7), to_band, count(*) FROM risk_changes GROUP BY substr(at, 1, 7), to_band`)
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
	rows, err := db.QueryContext(ctx, `SELECT status, assignee, risk, closure_reason, reopened, active_conditions, breaches FROM cases`)
	if err != nil {
		return d, fmt.Errorf("projections: dashboard: %w", err)
	}
	for rows.Next() {
		var status, assignee, risk, reason string
		var reopened, conditions, breaches int
		if err := rows.Scan(&status, &assignee, &risk, &reason, &reopened, &conditions, &breaches); err != nil {
			rows.Close()
			return d, err
		}
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
	at := ts(now)
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM worklist WHERE due_by < $1`, at).Scan(&d.OverdueFollowUps); err != nil {
		return d, err
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM contacts_due WHERE met_by = '' AND due_by < $1`, at).Scan(&d.MissedContacts); err != nil {
		return d, err
	}
	rows, err = db.QueryContext(ctx, `SELECT destination, status, count(*) FROM referrals GROUP BY destination, status`)
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
