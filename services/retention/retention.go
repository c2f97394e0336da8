// Package retention decides which cases' personal data is due for erasure
// under the retention rules (DOMAIN.md "Personal data and its end"): a
// closed case without charges, a number of years after its closure (5 by
// default, Québec practice and Loi 25); a case whose file went to the
// prosecutor, after the court's longest retention period, which must be
// configured (until it is, such a case is never erased by a rule). An
// active legal hold, or another case still open about one of its people,
// blocks the erasure. Rules are set per agency, the default for the rest.
//
// Plan is a pure function of the cases' states, the rules and the date:
// `caseledger retention plan` prints it, `retention run` carries it out.
package retention

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/google/uuid"
)

// Rule is one retention rule.
type Rule struct {
	Name string `json:"name"`
	// NoChargesYears: a closed case without charges is erased this many
	// years after its closure (0: never by this rule).
	NoChargesYears int `json:"no_charges_years"`
	// WithChargesYears: a closed case whose file went to the prosecutor
	// is erased this many years after its closure, the longest of the
	// court's retention periods (0: not configured, never by this rule).
	WithChargesYears int `json:"with_charges_years"`
}

// Rules are the default rule and the agencies' own.
type Rules struct {
	Default  Rule            `json:"default"`
	Agencies map[string]Rule `json:"agencies,omitempty"`
}

// Defaults are DOMAIN.md's: five years after closure without charges; the
// court's periods, with charges, are to be configured.
func Defaults() Rules {
	return Rules{Default: Rule{Name: "qc-default", NoChargesYears: 5}}
}

// LoadRules reads a rules file (JSON, as Rules), naming what is wrong.
func LoadRules(path string) (Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Rules{}, fmt.Errorf("retention rules: %w", err)
	}
	var r Rules
	if err := json.Unmarshal(b, &r); err != nil {
		return Rules{}, fmt.Errorf("retention rules %s: not JSON of {default, agencies}: %w", path, err)
	}
	return r, r.Validate()
}

// Validate checks every rule.
func (r Rules) Validate() error {
	var errs []error
	check := func(where string, x Rule) {
		if x.Name == "" {
			errs = append(errs, fmt.Errorf("retention rules: %s has no name", where))
		}
		if x.NoChargesYears < 0 || x.NoChargesYears > 100 || x.WithChargesYears < 0 || x.WithChargesYears > 100 {
			errs = append(errs, fmt.Errorf("retention rules: %s: years must be between 0 and 100", where))
		}
	}
	check("default", r.Default)
	for a, x := range r.Agencies {
		check("agency "+a, x)
	}
	return errors.Join(errs...)
}

// For returns the rule of an agency.
func (r Rules) For(agency string) Rule {
	if x, ok := r.Agencies[agency]; ok {
		return x
	}
	return r.Default
}

// Actions a plan gives a case.
const (
	Erase   = "erase"   // due: erased by `retention run`
	Wait    = "wait"    // not due before Due
	Blocked = "blocked" // due, but a hold or a related open case blocks it
	Keep    = "keep"    // open, or no rule applies
	Erased  = "erased"  // erased before
)

// Decision is what the plan does with one case, and why (ids, dates and
// rule names only: never personal data).
type Decision struct {
	CaseID uuid.UUID
	Agency string
	Action string
	Rule   string
	Due    time.Time // when the rule makes it due (zero when none)
	Why    string
}

// Plan decides, for every case, whether its personal data is due for
// erasure on now, in case-id order.
func Plan(cases []domain.State, rules Rules, now time.Time) []Decision {
	// Which people are in a case still open.
	openWith := map[string]uuid.UUID{}
	for _, s := range cases {
		if s.Status != domain.StatusClosed && s.Status != domain.StatusNone {
			for _, p := range s.Parties {
				if p.PersonID != "" {
					openWith[p.PersonID] = s.ID
				}
			}
		}
	}
	out := make([]Decision, 0, len(cases))
	for _, s := range cases {
		if s.Status == domain.StatusNone {
			continue
		}
		rule := rules.For(s.Agency)
		d := Decision{CaseID: s.ID, Agency: s.Agency, Rule: rule.Name}
		years, basis := rule.NoChargesYears, "closed without charges"
		if s.Submitted > 0 {
			years, basis = rule.WithChargesYears, "closed with its file sent to the prosecutor"
		}
		switch {
		case s.Erased != nil:
			d.Action, d.Why = Erased, "erased on "+s.Erased.At.UTC().Format(time.DateOnly)
		case s.Status != domain.StatusClosed:
			d.Action, d.Why = Keep, "open"
		case years == 0 && s.Submitted > 0:
			d.Action, d.Why = Keep, basis+": the court's retention period is not configured (with_charges_years)"
		case years == 0:
			d.Action, d.Why = Keep, basis+": the rule sets no period"
		default:
			d.Due = s.ClosedAt.AddDate(years, 0, 0)
			if now.Before(d.Due) {
				d.Action, d.Why = Wait, fmt.Sprintf("%s on %s: due %d years after", basis, s.ClosedAt.UTC().Format(time.DateOnly), years)
				break
			}
			d.Action, d.Why = Erase, fmt.Sprintf("%s on %s: %d years passed", basis, s.ClosedAt.UTC().Format(time.DateOnly), years)
			if why := blocker(s, openWith); why != "" {
				d.Action, d.Why = Blocked, why
			}
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Decision) int { return slices.Compare(a.CaseID[:], b.CaseID[:]) })
	return out
}

// blocker says what keeps a due case's data: an active legal hold, or a
// case still open about one of its people.
func blocker(s domain.State, openWith map[string]uuid.UUID) string {
	var holds []string
	for _, h := range s.Holds {
		if h.Active {
			holds = append(holds, h.ID.String())
		}
	}
	if len(holds) > 0 {
		slices.Sort(holds)
		return "under an active legal hold " + holds[0]
	}
	var people []string
	for _, p := range s.Parties {
		if other, ok := openWith[p.PersonID]; ok && other != s.ID {
			people = append(people, fmt.Sprintf("case %s, still open, is about person %s", other, p.PersonID))
		}
	}
	if len(people) > 0 {
		slices.Sort(people)
		return people[0]
	}
	return ""
}
