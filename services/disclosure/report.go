package disclosure

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"strings"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// report is what report.html and report.pdf show.
type report struct {
	*Manifest
	State          domain.State
	Entries        []reportEntry
	Access         []AccessEntry
	Checks         []check
	ManifestSHA256 string
	KeyFingerprint string
}

type reportEntry struct {
	Version     int64
	EventID     string
	Occurred    string
	Recorded    string
	Actor       string
	Compartment string
	Title       string
	Summary     string
	Withheld    string
	Affects     string   // "corrects #3" for a correction, redaction or marking
	Marks       []string // what corrects, redacts or marks this entry
	InError     bool
	target      string
}

type check struct {
	Name   string
	OK     bool
	Detail string
}

func entryOf(e domain.Event, r eventstore.Record, be Event, s domain.State) reportEntry {
	x := reportEntry{Version: r.Version, EventID: be.EventID, Occurred: e.Meta.OccurredAt.UTC().Format("2006-01-02 15:04:05"),
		Recorded:    e.Meta.RecordedAt.UTC().Format("2006-01-02 15:04:05"),
		Actor:       e.Meta.Actor.UserID + " (" + string(e.Meta.Actor.Role) + ", " + e.Meta.Actor.Agency + ")",
		Compartment: be.Compartment, Title: domain.Title(e.Type()), Withheld: be.Withheld, InError: s.Entries[e.ID].InError}
	if x.Withheld == "" {
		x.Summary = domain.Summary(e.Data) // never a personal field
	}
	if t := domain.Annotated(e.Data); t != uuid.Nil {
		x.target = t.String()
	}
	return x
}

// annotate puts each correction, redaction and marking in error beside the
// entry it affects, and says on it which entry that is.
func annotate(entries []reportEntry) {
	at := map[string]int{}
	for i, e := range entries {
		at[e.EventID] = i
	}
	for i, e := range entries {
		if e.target == "" {
			continue
		}
		t, ok := at[e.target]
		if !ok {
			continue
		}
		entries[i].Affects = fmt.Sprintf("affects #%d", entries[t].Version)
		entries[t].Marks = append(entries[t].Marks, fmt.Sprintf("%s at #%d", strings.ToLower(e.Title), e.Version))
	}
}

// selfCheck runs, at export, the checks caseverify runs on the bundle.
func selfCheck(recs []eventstore.Record, idx []int64, cp, latest ledger.Stored, m Manifest, src Source) []check {
	var out []check
	if b := eventstore.VerifyStream(recs); b != nil {
		out = append(out, check{"chain of the case's events", false, b.Error()})
	} else {
		out = append(out, check{"chain of the case's events", true, fmt.Sprintf("versions 0 to %d, each linked to the one before", len(recs)-1)})
	}
	ok, bad := 0, ""
	for i, r := range recs {
		proof := make(tlog.RecordProof, len(m.Events[i].Inclusion))
		for j, h := range m.Events[i].Inclusion {
			b, _ := hex.DecodeString(h)
			copy(proof[j][:], b)
		}
		if err := tlog.CheckRecord(proof, cp.Size, cp.Root, idx[i], ledger.LeafOf(r).Hash()); err != nil {
			if bad == "" {
				bad = fmt.Sprintf("(first failure: version %d: %v)", r.Version, err)
			}
			continue
		}
		ok++
	}
	out = append(out, check{"inclusion in the signed Merkle log", bad == "", fmt.Sprintf("%d of %d events proven in the tree of %d leaves %s", ok, len(recs), cp.Size, bad)})
	if _, err := ledger.OpenCheckpoint(cp.Note, src.Keys.Verifier); err != nil {
		out = append(out, check{"checkpoint signature", false, err.Error()})
	} else {
		out = append(out, check{"checkpoint signature", true, "signed by " + src.Keys.Verifier.Name()})
	}
	if latest.Size > cp.Size {
		proof := make(tlog.TreeProof, len(m.Consistency))
		for j, h := range m.Consistency {
			b, _ := hex.DecodeString(h)
			copy(proof[j][:], b)
		}
		if err := tlog.CheckTree(proof, latest.Size, latest.Root, cp.Size, cp.Root); err != nil {
			out = append(out, check{"consistency with the newest checkpoint", false, err.Error()})
		} else {
			out = append(out, check{"consistency with the newest checkpoint", true, fmt.Sprintf("the tree of %d leaves extends the tree of %d", latest.Size, cp.Size)})
		}
	}
	return out
}

// fingerprint is the SHA-256 of the public key's text form.
func fingerprint(vkey string) string {
	h := sha256.Sum256([]byte(vkey))
	return hex.EncodeToString(h[:])
}

//go:embed report.html.tmpl
var reportTemplate string

var tmpl = template.Must(template.New("report").Parse(reportTemplate))

// HTML renders report.html.
func (r *report) HTML() ([]byte, error) {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("disclosure: report: %w", err)
	}
	return b.Bytes(), nil
}

// lines is the report as text lines, for the PDF.
func (r *report) lines() []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	add("DISCLOSURE REPORT - case %s", r.CaseID)
	add("")
	add("Exported %s by %s", r.ExportedAt.Format("2006-01-02 15:04:05 UTC"), r.ExportedBy)
	add("Scope: %s", r.Scope)
	add("As of: checkpoint of %d leaves of log %s; %d versions of the case", r.CheckpointCovered, r.Origin, r.VersionsAtExport)
	add("Withheld: %d entries (listed below with the reason)", r.WithheldCount)
	add("Bundle SHA-256 (of manifest.json): %s", r.ManifestSHA256)
	add("Public key: %s", r.PublicKey)
	add("Key fingerprint (SHA-256 of the key): %s", r.KeyFingerprint)
	add("")
	add("VERIFICATION AT EXPORT")
	for _, c := range r.Checks {
		v := "PASS"
		if !c.OK {
			v = "FAIL"
		}
		add("  %s  %s: %s", v, c.Name, c.Detail)
	}
	add("")
	add("TIMELINE (occurred / recorded, UTC)")
	for _, e := range r.Entries {
		add("#%d  %s / %s  %s  [%s]", e.Version, e.Occurred, e.Recorded, e.Actor, e.Compartment)
		switch {
		case e.Withheld != "":
			add("      %s - WITHHELD: %s", e.Title, e.Withheld)
		case e.InError:
			add("      %s - MARKED IN ERROR  %s", e.Title, e.Summary)
		default:
			add("      %s  %s", e.Title, e.Summary)
		}
		if e.Affects != "" {
			add("      (%s)", e.Affects)
		}
		for _, m := range e.Marks {
			add("      -> %s", m)
		}
	}
	add("")
	add("ACCESS LOG OF THE CASE (%d reads)", len(r.Access))
	for _, a := range r.Access {
		d := ""
		if a.Denied {
			d = " DENIED: " + a.Reason
		}
		add("  %s  %s (%s, %s)  %s  purpose: %s%s", a.At, a.UserID, a.Role, a.Agency, strings.Join(a.Sections, ","), a.Purpose, d)
	}
	return out
}

// PDF renders the report as a plain PDF.
func (r *report) PDF() []byte { return pdfDocument(r.lines()) }
