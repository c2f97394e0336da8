// Package access is caseledger's one access policy: whether a reader (a
// user, their role and agency) may read a case on a surface (the current
// case, its timeline, one entry, a past view, a disclosure bundle, a list),
// which entries they see, and why not. The API, the disclosure export, the
// command line and the read models' SQL filters all ask it; nothing else
// decides visibility.
//
// It decides from values only: it never reads storage, never logs, and its
// reasons name rules, never case data.
package access

import (
	"slices"

	"github.com/caseledger/caseledger/domain"
	"github.com/google/uuid"
)

// Surface is where a reader reads.
type Surface string

// The surfaces of one case, and the lists across cases.
const (
	Case     Surface = "case"     // the current state of a case
	Timeline Surface = "timeline" // its entries, without personal fields
	Entry    Surface = "entry"    // one entry with its personal fields
	Replay   Surface = "replay"   // a past view (auditors)
	Export   Surface = "export"   // a disclosure bundle leaving the service (auditors)

	Worklist     Surface = "worklist"      // a worker's open follow-ups
	Referrals    Surface = "referrals"     // referrals across cases
	PersonSearch Surface = "person_search" // the cases of a person
	Dashboard    Surface = "dashboard"     // aggregate figures, no case data
)

// Reasons a read is refused, as recorded in the access log and answered.
const (
	NoCaseFile       = "role may not read case files"
	AuditorsOnly     = "only auditors read this"
	OtherAgency      = "the case is not open to the reader's agency"
	NotOrderRole     = "role may not invoke a production order"
	OrderUnknown     = "no production order with this id is recorded on the case"
	OrderInError     = "the production order is marked in error"
	OrderSelf        = "a production order opens sealed entries only to others than the one who recorded it"
	HiddenCompart    = "entry is in a compartment the role may not read"
	OutsideGrant     = "entry was recorded outside what the case shares with the reader's agency"
	RedactedNoOrder  = "redacted: needs a production order"
	AffectsWithheld  = "affects a withheld entry"
	NoDashboard      = "the dashboard is for supervisors, auditors and administrators"
	NoReferralList   = "referral lists are for partner agencies, supervisors and auditors"
	NoOtherWorklist  = "only supervisors and auditors read another worker's list"
	NoRoleCompartmnt = "role has no compartment to read"
)

// Policy is what one reader may see of one case on one surface. Build it
// with For; its zero value refuses everything.
type Policy struct {
	reader  domain.Actor
	surface Surface
	st      domain.State
	order   uuid.UUID
	// denied is why the whole read is refused ("" when it is not).
	denied string
	// orderWhy is why the named order does not stand ("" when it does, or
	// when none was named).
	orderWhy string
	vis      []domain.Compartment
	windows  []Window
}

// Window is a range of a case's versions [From, Until) the reader's agency
// reads; Until is -1 while open.
type Window struct{ From, Until int64 }

// OrderRole reports whether a role may invoke a production order.
func OrderRole(r domain.Role) bool {
	return r == domain.RoleInvestigator || r == domain.RoleSupervisor || r == domain.RoleAuditor
}

// For builds the policy of reader on surface over a case in state st, under
// a production order when order is not Nil. st needs the case's grants; to
// judge an order it needs the case as loaded from the record (its orders
// and entries), and to judge entries one by one, its entries.
func For(reader domain.Actor, surface Surface, st domain.State, order uuid.UUID) Policy {
	p := Policy{reader: reader, surface: surface, st: st, order: order}
	role := reader.Role
	switch {
	case len(role.Reads()) == 0:
		p.denied = NoCaseFile
	case (surface == Replay || surface == Export) && role != domain.RoleAuditor:
		p.denied = AuditorsOnly
	case order != uuid.Nil && !OrderRole(role):
		p.denied = NotOrderRole
	}
	if order != uuid.Nil {
		p.orderWhy = p.standing()
	}
	for _, g := range st.Grants {
		if g.Agency == reader.Agency {
			p.windows = append(p.windows, Window{g.From, g.Until})
		}
	}
	if p.denied == "" && len(p.windows) == 0 {
		p.denied = OtherAgency
	}
	// A bundle leaves the service: it carries police and shared entries,
	// and social-work and sealed ones only under an order that stands.
	// A read inside the service shows the role's compartments, and sealed
	// ones under an order that stands.
	if surface == Export {
		p.vis = []domain.Compartment{domain.CompartmentPolice, domain.CompartmentShared}
		if p.OrderStands() {
			p.vis = append(p.vis, domain.CompartmentSocialWork, domain.CompartmentSealed)
		}
	} else {
		p.vis = slices.Clone(role.Reads())
		if p.OrderStands() {
			p.vis = append(p.vis, domain.CompartmentSealed)
		}
		// Elsewhere an order that does not stand refuses the read: no one
		// reads on the strength of an order the record does not back.
		if p.denied == "" && p.orderWhy != "" {
			p.denied = p.orderWhy
		}
	}
	return p
}

// standing says why the named order does not open sealed entries to the
// reader, or "" when it does: it must be recorded on this very case, not
// be marked in error, and have been recorded by someone other than the
// reader, so that no one opens sealed entries on their own word.
func (p Policy) standing() string {
	oe, ok := p.st.OrderEntries[p.order]
	switch {
	case !ok:
		return OrderUnknown
	case p.st.Entries[oe.EventID].InError:
		return OrderInError
	case oe.RecordedBy == p.reader.UserID:
		return OrderSelf
	}
	return ""
}

// Denied says why the read is refused, or "" when it may go on.
func (p Policy) Denied() string { return p.denied }

// Order returns the order named, if any, and why it does not stand ("" when
// it stands).
func (p Policy) Order() (uuid.UUID, string) { return p.order, p.orderWhy }

// OrderStands reports whether an order was named and stands.
func (p Policy) OrderStands() bool { return p.order != uuid.Nil && p.orderWhy == "" }

// Compartments lists the compartments the read shows (nil when it is
// denied): the read models filter on them.
func (p Policy) Compartments() []domain.Compartment {
	if p.denied != "" {
		return nil
	}
	return p.vis
}

// Windows lists the version ranges of the case the reader's agency reads
// (nil when the read is denied): the read models filter on them.
func (p Policy) Windows() []Window {
	if p.denied != "" {
		return nil
	}
	return p.windows
}

// Shows says why an entry in compartment c at version v is not shown, or ""
// when it is. c is the entry's compartment as the surface judges it (the
// current one; a past view passes the narrower of then and now).
func (p Policy) Shows(c domain.Compartment, v int64) string {
	switch {
	case p.denied != "":
		return p.denied
	case !slices.Contains(p.vis, c):
		return HiddenCompart
	}
	for _, w := range p.windows {
		if v >= w.From && (w.Until < 0 || v < w.Until) {
			return ""
		}
	}
	return OutsideGrant
}

// ShowsEntry says why the case's entry id is not shown, or "" when it is,
// judging its current compartment and version. A correction, redaction or
// marking in error of an entry the reader may not see is not shown either
// (a correction carries the entry's new values). On an export, also an
// entry with redacted fields without an order that stands, and any
// annotation of an entry the bundle withholds. An entry not on the case is
// "not shown" with HiddenCompart, so that a probe learns nothing.
func (p Policy) ShowsEntry(id uuid.UUID) string {
	e, ok := p.st.Entries[id]
	if !ok {
		return HiddenCompart
	}
	if p.surface == Export {
		if why := p.Shows(e.Compartment, e.Version); why != "" {
			return why
		}
		if e.Redacted && !p.OrderStands() {
			return RedactedNoOrder
		}
		if e.Target != uuid.Nil && p.ShowsEntry(e.Target) != "" {
			return AffectsWithheld
		}
		return ""
	}
	if e.Target == uuid.Nil {
		return p.Shows(e.Compartment, e.Version)
	}
	t := p.st.Entries[e.Target]
	return p.ShowsAnnotation(e.Compartment, e.Version, t.Compartment, t.Version)
}

// ShowsAnnotation says why a correction, redaction or marking in error
// (compartment c, version v) of an entry (compartment tc, version tv) is
// not shown, or "" when it is: both must be shown. The timeline's SQL
// applies the same rule to the annotated entry's row.
func (p Policy) ShowsAnnotation(c domain.Compartment, v int64, tc domain.Compartment, tv int64) string {
	if why := p.Shows(c, v); why != "" {
		return why
	}
	if p.Shows(tc, tv) != "" {
		return AffectsWithheld
	}
	return ""
}

// WholeCase reports whether the reader's agency reads the case from its
// first entry on (it holds it, or took it by a transfer), rather than only
// what was shared with it from some entry on: only then is the case's
// state as a whole (status, risk, counts at a past cut) the reader's to see.
func (p Policy) WholeCase() bool {
	if p.denied != "" {
		return false
	}
	for _, w := range p.windows {
		if w.From == 0 && w.Until < 0 {
			return true
		}
	}
	return false
}

// List is what one reader may see on a list across cases (worklist,
// referrals, person search) or the dashboard. Build it with ForList.
type List struct {
	reader  domain.Actor
	surface Surface
	denied  string
}

// ForList builds the policy of reader on a list surface. other names
// another worker whose worklist is read ("" for the reader's own).
func ForList(reader domain.Actor, surface Surface, other string) List {
	l := List{reader: reader, surface: surface}
	role := reader.Role
	switch surface {
	case Dashboard:
		if role != domain.RoleSupervisor && role != domain.RoleAuditor && role != domain.RoleAdmin {
			l.denied = NoDashboard
		}
	case Referrals:
		if role != domain.RolePartner && role != domain.RoleSupervisor && role != domain.RoleAuditor {
			l.denied = NoReferralList
		}
	case Worklist:
		switch {
		case len(role.Reads()) == 0:
			l.denied = NoRoleCompartmnt
		case other != "" && other != reader.UserID && role != domain.RoleSupervisor && role != domain.RoleAuditor:
			l.denied = NoOtherWorklist
		}
	default:
		if len(role.Reads()) == 0 {
			l.denied = NoCaseFile
		}
	}
	return l
}

// Denied says why the list read is refused, or "" when it may go on.
func (l List) Denied() string { return l.denied }

// Compartments lists the compartments whose rows the list shows.
func (l List) Compartments() []domain.Compartment {
	if l.denied != "" {
		return nil
	}
	if l.surface == Referrals && l.reader.Role == domain.RolePartner {
		// A partner reads the referrals addressed to it, whatever their
		// compartment, but never a sealed one.
		return []domain.Compartment{domain.CompartmentPolice, domain.CompartmentSocialWork, domain.CompartmentShared}
	}
	return l.reader.Role.Reads()
}

// Agency is the reader's agency: a list shows rows of the cases open to it
// and, for a partner's referrals, only the referrals addressed to it.
func (l List) Agency() string { return l.reader.Agency }

// AddressedOnly reports whether the list shows only rows addressed to the
// reader's agency (a partner's referrals) rather than rows of the cases
// open to it.
func (l List) AddressedOnly() bool {
	return l.surface == Referrals && l.reader.Role == domain.RolePartner
}
