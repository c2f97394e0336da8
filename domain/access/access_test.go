package access_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/access"
	"github.com/google/uuid"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// caseWith builds a case of agency "police-a" through Evolve, with one entry
// in each compartment, three production orders (standing, marked in error,
// recorded by the auditor "aud-1"), then a sharing with "shelter-b" by
// consent, and one police entry after it.
type fixture struct {
	st                           domain.State
	entries                      map[domain.Compartment]uuid.UUID
	afterShare                   uuid.UUID
	orderOK, orderErr, orderSelf uuid.UUID
	orderOther                   uuid.UUID // recorded on another case
	correctionOfSealed, redacted uuid.UUID
	correctionOfPolice           uuid.UUID
}

func build(t *testing.T) fixture {
	t.Helper()
	caseID := uuid.New()
	f := fixture{entries: map[domain.Compartment]uuid.UUID{}, orderOK: uuid.New(), orderErr: uuid.New(), orderSelf: uuid.New(), orderOther: uuid.New()}
	add := func(c domain.Compartment, by string, d domain.EventData) uuid.UUID {
		id := uuid.New()
		f.st = domain.Evolve(f.st, domain.Event{ID: id, CaseID: caseID, Meta: domain.Meta{
			Actor: domain.Actor{UserID: by, Role: domain.RoleInvestigator, Agency: "police-a"}, OccurredAt: t0, RecordedAt: t0, Compartment: c}, Data: d})
		return id
	}
	add(domain.CompartmentShared, "inv-1", domain.CaseOpened{Module: domain.Module("victim_support"), Agency: "police-a"})
	for _, c := range []domain.Compartment{domain.CompartmentPolice, domain.CompartmentSocialWork, domain.CompartmentShared, domain.CompartmentSealed} {
		f.entries[c] = add(c, "inv-1", domain.NoteAdded{NoteID: uuid.New(), Text: "x"})
	}
	order := func(id uuid.UUID, by string) uuid.UUID {
		return add(domain.CompartmentSealed, by, domain.ProductionOrderReceived{OrderID: id, Court: "C", FileRef: "F", Scope: "all", IssuedAt: t0})
	}
	order(f.orderOK, "inv-1")
	errEntry := order(f.orderErr, "inv-1")
	add(domain.CompartmentSealed, "inv-1", domain.EntryMarkedInError{TargetEventID: errEntry, Reason: "wrong case"})
	order(f.orderSelf, "aud-1")
	f.correctionOfSealed = add(domain.CompartmentShared, "inv-1", domain.EntryCorrected{TargetEventID: f.entries[domain.CompartmentSealed], Reason: "r"})
	f.correctionOfPolice = add(domain.CompartmentPolice, "inv-1", domain.EntryCorrected{TargetEventID: f.entries[domain.CompartmentPolice], Reason: "r"})
	f.redacted = add(domain.CompartmentPolice, "inv-1", domain.NoteAdded{NoteID: uuid.New(), Text: "y"})
	add(domain.CompartmentPolice, "inv-1", domain.EntryRedacted{TargetEventID: f.redacted, Fields: []string{"text"}, LegalBasis: "art. 28"})
	add(domain.CompartmentShared, "inv-1", domain.ConsentRecorded{ConsentID: uuid.New(), PartyID: uuid.New(), Scope: domain.ConsentSharing, Agency: "shelter-b", Method: domain.ConsentMethod("written")})
	f.afterShare = add(domain.CompartmentShared, "inv-1", domain.NoteAdded{NoteID: uuid.New(), Text: "z"})
	return f
}

// TestPolicyTable plays role × agency × compartment × order standing ×
// surface, and checks each decision against the rule written out here
// independently of the package.
func TestPolicyTable(t *testing.T) {
	f := build(t)
	roles := []domain.Role{domain.RoleOfficer, domain.RoleInvestigator, domain.RoleSocialWorker, domain.RoleSupervisor, domain.RoleAuditor, domain.RolePartner, domain.RoleAdmin}
	agencies := []string{"police-a", "shelter-b", "police-c"}
	orders := map[string]uuid.UUID{"none": uuid.Nil, "standing": f.orderOK, "in_error": f.orderErr, "by_reader": f.orderSelf, "other_case": f.orderOther}
	surfaces := []access.Surface{access.Case, access.Timeline, access.Entry, access.Replay, access.Export}
	rows := 0
	for _, role := range roles {
		for _, agency := range agencies {
			for oname, order := range orders {
				for _, surface := range surfaces {
					reader := domain.Actor{UserID: "aud-1", Role: role, Agency: agency}
					p := access.For(reader, surface, f.st, order)
					// The whole read.
					wantDenied := ""
					reads := role == domain.RoleOfficer || role == domain.RoleInvestigator || role == domain.RoleSocialWorker || role == domain.RoleSupervisor || role == domain.RoleAuditor
					orderRole := role == domain.RoleInvestigator || role == domain.RoleSupervisor || role == domain.RoleAuditor
					stands := oname == "standing"
					switch {
					case !reads:
						wantDenied = access.NoCaseFile
					case (surface == access.Replay || surface == access.Export) && role != domain.RoleAuditor:
						wantDenied = access.AuditorsOnly
					case order != uuid.Nil && !orderRole:
						wantDenied = access.NotOrderRole
					case agency == "police-c":
						wantDenied = access.OtherAgency
					case surface != access.Export && order != uuid.Nil && !stands:
						wantDenied = map[string]string{"in_error": access.OrderInError, "by_reader": access.OrderSelf, "other_case": access.OrderUnknown}[oname]
					}
					name := fmt.Sprintf("%s/%s/%s/%s", role, agency, oname, surface)
					if got := p.Denied(); got != wantDenied {
						t.Errorf("%s: denied %q, want %q", name, got, wantDenied)
						continue
					}
					// Each compartment's entry (recorded before the sharing).
					for c, id := range f.entries {
						var want bool
						switch {
						case wantDenied != "":
						case agency == "shelter-b":
							// Shared from the consent on: nothing before it.
						case surface == access.Export:
							want = c == domain.CompartmentPolice || c == domain.CompartmentShared || stands
						default:
							want = c == domain.CompartmentShared ||
								(c == domain.CompartmentPolice && role != domain.RoleSocialWorker) ||
								(c == domain.CompartmentSocialWork && role != domain.RoleOfficer && role != domain.RoleInvestigator) ||
								(c == domain.CompartmentSealed && stands)
						}
						if got := p.ShowsEntry(id) == ""; got != want {
							t.Errorf("%s: %s entry shown %v, want %v (%s)", name, c, got, want, p.ShowsEntry(id))
						}
						rows++
					}
					// The shared entry after the sharing is open to both agencies.
					if got, want := p.ShowsEntry(f.afterShare) == "", wantDenied == ""; got != want {
						t.Errorf("%s: entry after sharing shown %v, want %v", name, got, want)
					}
				}
			}
		}
	}
	t.Logf("%d decisions checked", rows)
}

// TestExportUnderOrderInError: an order marked in error (or recorded by the
// exporter, or of another case) withholds exactly what no order withholds.
func TestExportUnderOrderInError(t *testing.T) {
	f := build(t)
	auditor := domain.Actor{UserID: "aud-1", Role: domain.RoleAuditor, Agency: "police-a"}
	none := access.For(auditor, access.Export, f.st, uuid.Nil)
	for _, order := range []uuid.UUID{f.orderErr, f.orderSelf, f.orderOther} {
		p := access.For(auditor, access.Export, f.st, order)
		if p.Denied() != "" {
			t.Fatalf("export refused: %s", p.Denied())
		}
		if _, why := p.Order(); why == "" {
			t.Fatalf("order %s stands", order)
		}
		for id := range f.st.Entries {
			if a, b := p.ShowsEntry(id), none.ShowsEntry(id); a != b {
				t.Errorf("entry %s: %q under the order, %q without", id, a, b)
			}
		}
	}
	ok := access.For(auditor, access.Export, f.st, f.orderOK)
	if ok.ShowsEntry(f.entries[domain.CompartmentSocialWork]) != "" || ok.ShowsEntry(f.redacted) != "" {
		t.Error("a standing order does not open social-work or redacted entries")
	}
	if none.ShowsEntry(f.redacted) != access.RedactedNoOrder {
		t.Errorf("redacted entry without order: %q", none.ShowsEntry(f.redacted))
	}
	if none.ShowsEntry(f.correctionOfSealed) != access.AffectsWithheld {
		t.Errorf("correction of a withheld sealed entry: %q", none.ShowsEntry(f.correctionOfSealed))
	}
	if none.ShowsEntry(f.correctionOfPolice) != "" {
		t.Errorf("correction of a disclosed police entry: %q", none.ShowsEntry(f.correctionOfPolice))
	}
}

// TestGrantsFollowTheRecord: a withdrawn consent closes the window; a
// transfer opens the whole file to the receiving agency.
func TestGrantsFollowTheRecord(t *testing.T) {
	caseID, consent, transfer := uuid.New(), uuid.New(), uuid.New()
	var st domain.State
	var ids []uuid.UUID
	add := func(c domain.Compartment, d domain.EventData) {
		id := uuid.New()
		ids = append(ids, id)
		st = domain.Evolve(st, domain.Event{ID: id, CaseID: caseID, Meta: domain.Meta{Actor: domain.Actor{UserID: "u", Role: domain.RoleOfficer, Agency: "police-a"}, OccurredAt: t0, RecordedAt: t0, Compartment: c}, Data: d})
	}
	add(domain.CompartmentShared, domain.CaseOpened{Module: domain.Module("victim_support"), Agency: "police-a"})                                                     // 0
	add(domain.CompartmentShared, domain.ConsentRecorded{ConsentID: consent, PartyID: uuid.New(), Scope: domain.ConsentSharing, Agency: "cavac-d", Method: "verbal"}) // 1
	add(domain.CompartmentShared, domain.NoteAdded{NoteID: uuid.New(), Text: "a"})                                                                                    // 2
	add(domain.CompartmentShared, domain.ConsentWithdrawn{ConsentID: consent})                                                                                        // 3
	add(domain.CompartmentShared, domain.NoteAdded{NoteID: uuid.New(), Text: "b"})                                                                                    // 4
	add(domain.CompartmentShared, domain.TransferRequested{TransferID: transfer, ToAgency: "police-e", Reason: "moved"})                                              // 5
	add(domain.CompartmentShared, domain.TransferAccepted{TransferID: transfer})                                                                                      // 6
	sw := func(agency string) access.Policy {
		return access.For(domain.Actor{UserID: "s", Role: domain.RoleSocialWorker, Agency: agency}, access.Entry, st, uuid.Nil)
	}
	for i, want := range []bool{false, true, true, false, false, false, false} {
		if got := sw("cavac-d").ShowsEntry(ids[i]) == ""; got != want {
			t.Errorf("cavac-d, version %d: shown %v, want %v", i, got, want)
		}
	}
	for i := range ids {
		if sw("police-e").ShowsEntry(ids[i]) != "" || sw("police-a").ShowsEntry(ids[i]) != "" {
			t.Errorf("version %d: not open to the receiving or the owning agency", i)
		}
	}
}

// TestLists: who reads which list.
func TestLists(t *testing.T) {
	for _, c := range []struct {
		role    domain.Role
		surface access.Surface
		other   string
		denied  string
	}{
		{domain.RoleOfficer, access.Dashboard, "", access.NoDashboard},
		{domain.RoleAdmin, access.Dashboard, "", ""},
		{domain.RoleOfficer, access.Referrals, "", access.NoReferralList},
		{domain.RolePartner, access.Referrals, "", ""},
		{domain.RoleSocialWorker, access.Worklist, "", ""},
		{domain.RoleSocialWorker, access.Worklist, "someone", access.NoOtherWorklist},
		{domain.RoleSupervisor, access.Worklist, "someone", ""},
		{domain.RolePartner, access.Worklist, "", access.NoRoleCompartmnt},
		{domain.RolePartner, access.PersonSearch, "", access.NoCaseFile},
		{domain.RoleOfficer, access.PersonSearch, "", ""},
	} {
		l := access.ForList(domain.Actor{UserID: "me", Role: c.role, Agency: "a"}, c.surface, c.other)
		if l.Denied() != c.denied {
			t.Errorf("%s on %s (%q): %q, want %q", c.role, c.surface, c.other, l.Denied(), c.denied)
		}
	}
	p := access.ForList(domain.Actor{UserID: "me", Role: domain.RolePartner, Agency: "shelter"}, access.Referrals, "")
	if !p.AddressedOnly() || p.Agency() != "shelter" {
		t.Error("a partner's referral list is not limited to its agency")
	}
}

// TestAnnotationsOfHiddenEntries: a correction in a compartment the reader
// sees, of an entry it may not see, is not shown on any surface (it
// carries the entry's new values); under an order that opens the entry, it
// is.
func TestAnnotationsOfHiddenEntries(t *testing.T) {
	f := build(t)
	officer := domain.Actor{UserID: "off-1", Role: domain.RoleOfficer, Agency: "police-a"}
	inv := domain.Actor{UserID: "inv-2", Role: domain.RoleInvestigator, Agency: "police-a"}
	for _, surface := range []access.Surface{access.Case, access.Timeline, access.Entry} {
		if why := access.For(officer, surface, f.st, uuid.Nil).ShowsEntry(f.correctionOfSealed); why != access.AffectsWithheld {
			t.Errorf("%s: a shared correction of a sealed entry: %q", surface, why)
		}
		if why := access.For(inv, surface, f.st, f.orderOK).ShowsEntry(f.correctionOfSealed); why != "" {
			t.Errorf("%s: under a standing order: %q", surface, why)
		}
		if why := access.For(officer, surface, f.st, uuid.Nil).ShowsEntry(f.correctionOfPolice); why != "" {
			t.Errorf("%s: a correction of a police entry: %q", surface, why)
		}
	}
	if access.For(officer, access.Replay, f.st, uuid.Nil).WholeCase() {
		t.Error("a denied read sees the whole case")
	}
	if !access.For(inv, access.Entry, f.st, uuid.Nil).WholeCase() || access.For(domain.Actor{UserID: "s", Role: domain.RoleSocialWorker, Agency: "shelter-b"}, access.Entry, f.st, uuid.Nil).WholeCase() {
		t.Error("WholeCase: the owner reads the whole case, an agency shared with from an entry on does not")
	}
}
