package disclosure_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"github.com/caseledger/caseledger/internal/testfixture"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/disclosure"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.html")

type fixture struct {
	store *sqlite.Store
	src   disclosure.Source
	c     gen.Case
	order uuid.UUID
	sign  func()
}

// auditor exports: of the agency that opened the case.
func (f fixture) auditor() domain.Actor {
	return domain.Actor{UserID: "aud-1", Role: domain.RoleAuditor, Agency: f.c.Events()[0].Data.(domain.CaseOpened).Agency}
}

var now = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// setup records generated cases, picks one with social-work entries,
// records a production order and an access record on it, and signs a
// checkpoint over it all.
func setup(t testing.TB) fixture {
	t.Helper()
	ctx := context.Background()
	st, cases := testfixture.Generated(t, 31, 10)
	var pick gen.Case
	for _, c := range cases {
		for _, e := range c.Events() {
			if e.Meta.Compartment == domain.CompartmentSocialWork && pick.ID == uuid.Nil {
				pick = c
			}
		}
	}
	inv := domain.Actor{UserID: "inv-1", Role: domain.RoleInvestigator, Agency: "police-lavallee"}
	order := domain.EventID(pick.ID, 5000)
	last := pick.Events()[len(pick.Events())-1].Meta.OccurredAt
	cmd := domain.ReceiveProductionOrder{CommandHeader: domain.CommandHeader{CaseID: pick.ID, CommandID: domain.EventID(pick.ID, 5001), Actor: inv,
		OccurredAt: last.Add(time.Hour), SourceSystem: "records"},
		ProductionOrderReceived: domain.ProductionOrderReceived{OrderID: order, Court: "Cour du Québec", FileRef: "500-01-000042-26", Scope: "whole file", IssuedAt: last}}
	if _, _, err := casefile.Execute(ctx, st, cmd, func() time.Time { return last.Add(time.Hour + time.Minute) }, 3); err != nil {
		t.Fatal(err)
	}
	// A correction, a redaction and a marking in error, to stand beside
	// what they affect.
	evs := pick.Events()
	hdr := func(n int) domain.CommandHeader {
		return domain.CommandHeader{CaseID: pick.ID, CommandID: domain.EventID(pick.ID, n), Actor: inv, OccurredAt: last.Add(2 * time.Hour), SourceSystem: "records"}
	}
	for _, c := range []domain.Command{
		domain.CorrectEntry{CommandHeader: hdr(5010), EntryCorrected: domain.EntryCorrected{TargetEventID: evs[3].ID, Changes: []domain.FieldChange{{Field: "cleared_at", Value: "2022-07-21T15:00:00Z"}}, Reason: "time misread"}},
		domain.MarkEntryInError{CommandHeader: hdr(5011), EntryMarkedInError: domain.EntryMarkedInError{TargetEventID: evs[7].ID, Reason: "entered on the wrong file"}},
		domain.RedactEntry{CommandHeader: hdr(5012), EntryRedacted: domain.EntryRedacted{TargetEventID: evs[5].ID, Fields: []string{"person_id"}, LegalBasis: "third-party information"}},
	} {
		if _, _, err := casefile.Execute(ctx, st, c, func() time.Time { return last.Add(2*time.Hour + time.Minute) }, 3); err != nil {
			t.Fatal(err)
		}
	}
	viewed := domain.Event{ID: domain.EventID(pick.ID, 5002), CaseID: pick.ID,
		Meta: domain.Meta{Actor: domain.Actor{UserID: "sup-1", Role: domain.RoleSupervisor, Agency: "police-lavallee"}, OccurredAt: now.Add(-time.Hour),
			RecordedAt: now.Add(-time.Hour), SourceSystem: "api", Compartment: domain.CompartmentShared},
		Data: domain.RecordViewed{CaseID: pick.ID, Purpose: "case review", Sections: []string{"timeline"}}}
	d, err := casefile.Encode(viewed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, "access-"+now.Format(time.DateOnly), eventstore.Any, []eventstore.EventData{d}); err != nil {
		t.Fatal(err)
	}
	keyDir := t.TempDir()
	keys, err := ledger.LoadOrCreateKeys(keyDir, "caseledger.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	treeDir := t.TempDir()
	sign := func() {
		tree, err := ledger.Open(treeDir)
		if err != nil {
			t.Fatal(err)
		}
		defer tree.Close()
		s := &ledger.Service{Log: tree, Keys: keys, Store: st, Now: func() time.Time { return now }}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SignNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sign()
	return fixture{store: st, src: disclosure.Source{Store: st, Keys: keys}, c: pick, order: order, sign: sign}
}

func (f fixture) export(t testing.TB, order uuid.UUID) (disclosure.Result, string, error) {
	t.Helper()
	tree := ledger.NewMemory()
	if _, err := tree.CatchUp(context.Background(), f.store, nil); err != nil {
		t.Fatal(err)
	}
	src := f.src
	src.Tree = tree
	out := filepath.Join(t.TempDir(), "bundle")
	res, err := disclosure.Export(context.Background(), src, disclosure.Options{CaseID: f.c.ID, OrderID: order, Reader: f.auditor(), Out: out, Now: now})
	return res, out, err
}

// TestExportScopes: without an order, social-work entries are withheld
// (and listed); under a recorded order every entry is disclosed; an
// unrecorded order, an unknown case, events not yet under a checkpoint and
// a non-empty output directory are refused.
func TestExportScopes(t *testing.T) {
	f := setup(t)
	social := 0
	for _, e := range f.c.Events() {
		if e.Meta.Compartment == domain.CompartmentSocialWork {
			social++
		}
	}
	res, dir, err := f.export(t, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Withheld < social {
		t.Fatalf("withheld %d, the case has %d social-work entries", res.Withheld, social)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if strings.Count(string(html), "withheld (compartment social_work") != social {
		t.Errorf("the report lists %d withheld social-work entries, want %d", strings.Count(string(html), "withheld (compartment social_work"), social)
	}
	res, _, err = f.export(t, f.order)
	if err != nil || res.Withheld != 0 {
		t.Fatalf("under the order: %d withheld, %v", res.Withheld, err)
	}
	// An order that does not stand (unrecorded, recorded by the exporter,
	// or marked in error) opens nothing: the bundle withholds exactly what
	// it withholds without an order, and its scope says why.
	withheldIDs := func(dir string) []string {
		raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		var m disclosure.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range m.Events {
			if e.Withheld != "" {
				ids = append(ids, e.EventID+" "+e.Withheld)
			}
		}
		return ids
	}
	_, noneDir, err := f.export(t, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	_, unknownDir, err := f.export(t, domain.EventID(f.c.ID, 6000))
	if err != nil {
		t.Fatalf("an unrecorded order: %v", err)
	}
	if a, b := withheldIDs(unknownDir), withheldIDs(noneDir); !slices.Equal(a, b) || len(a) == 0 {
		t.Errorf("under an unrecorded order %d withheld, without an order %d", len(a), len(b))
	}
	if m, _ := os.ReadFile(filepath.Join(unknownDir, "manifest.json")); !strings.Contains(string(m), "not applied: no production order with this id") {
		t.Error("the scope does not say the order was not applied")
	}
	inv := domain.Actor{UserID: "inv-1", Role: domain.RoleInvestigator, Agency: f.auditor().Agency}
	mark := domain.MarkEntryInError{CommandHeader: domain.CommandHeader{CaseID: f.c.ID, CommandID: domain.EventID(f.c.ID, 6001), Actor: inv, OccurredAt: now.Add(-time.Minute), SourceSystem: "records"},
		EntryMarkedInError: domain.EntryMarkedInError{TargetEventID: domain.EventID(domain.EventID(f.c.ID, 5001), 0), Reason: "order entered on the wrong file"}}
	if _, _, err := casefile.Execute(context.Background(), f.store, mark, func() time.Time { return now.Add(-time.Minute) }, 3); err != nil {
		t.Fatal(err)
	}
	f.sign()
	_, noneDir, err = f.export(t, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	_, inErrorDir, err := f.export(t, f.order)
	if err != nil {
		t.Fatalf("under an order marked in error: %v", err)
	}
	if a, b := withheldIDs(inErrorDir), withheldIDs(noneDir); !slices.Equal(a, b) || len(a) == 0 {
		t.Errorf("under an order marked in error %d withheld, without an order %d", len(a), len(b))
	}
	if m, _ := os.ReadFile(filepath.Join(inErrorDir, "manifest.json")); !strings.Contains(string(m), "not applied: the production order is marked in error") {
		t.Error("the scope does not say the order is marked in error")
	}
	other := f
	other.c.ID = uuid.MustParse("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b")
	if _, _, err := other.export(t, uuid.Nil); !errors.Is(err, disclosure.ErrUnknownCase) {
		t.Errorf("an unknown case: %v", err)
	}
	if _, err := disclosure.Export(context.Background(), disclosure.Source{Store: f.store, Tree: ledger.NewMemory(), Keys: f.src.Keys},
		disclosure.Options{CaseID: f.c.ID, Out: dir, Now: now}); err == nil {
		t.Error("an export over a non-empty directory or an empty tree was accepted")
	}
	// A correction carrying a personal value, of an entry later redacted:
	// without an order neither the entry nor its correction is disclosed.
	off := domain.Actor{UserID: "off-1", Role: domain.RoleOfficer, Agency: "police-lavallee"}
	hdr := func(n int) domain.CommandHeader {
		return domain.CommandHeader{CaseID: f.c.ID, CommandID: domain.EventID(f.c.ID, n), Actor: off, OccurredAt: now.Add(-2 * time.Hour), SourceSystem: "records"}
	}
	noteEv := domain.EventID(domain.EventID(f.c.ID, 6100), 0)
	for _, c := range []domain.Command{
		domain.AddNote{CommandHeader: hdr(6100), NoteAdded: domain.NoteAdded{NoteID: domain.EventID(f.c.ID, 6101), Text: "Met her at the shelter."}},
		domain.CorrectEntry{CommandHeader: hdr(6102), EntryCorrected: domain.EntryCorrected{TargetEventID: noteEv, Changes: []domain.FieldChange{{Field: "text", Value: "She lives at 12 Elm St."}}, Reason: "address"}},
		domain.RedactEntry{CommandHeader: hdr(6103), EntryRedacted: domain.EntryRedacted{TargetEventID: noteEv, Fields: []string{"text"}, LegalBasis: "safety of the victim"}},
	} {
		if _, _, err := casefile.Execute(context.Background(), f.store, c, func() time.Time { return now.Add(-time.Hour) }, 3); err != nil {
			t.Fatal(err)
		}
	}
	f.sign()
	_, leakDir, err := f.export(t, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(leakDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "12 Elm St") || strings.Contains(string(b), "Met her at the shelter") {
				t.Errorf("%s discloses a redacted note or its correction", filepath.Base(p))
			}
		}
		return nil
	})
	// A note after the checkpoint: not covered until the next one.
	note := domain.AddNote{CommandHeader: domain.CommandHeader{CaseID: f.c.ID, CommandID: domain.EventID(f.c.ID, 7000),
		Actor: domain.Actor{UserID: "off-1", Role: domain.RoleOfficer, Agency: "police-lavallee"}, OccurredAt: now.Add(-time.Minute), SourceSystem: "records"},
		NoteAdded: domain.NoteAdded{NoteID: domain.EventID(f.c.ID, 7001), Text: "Late entry."}}
	if _, _, err := casefile.Execute(context.Background(), f.store, note, func() time.Time { return now }, 3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.export(t, uuid.Nil); !errors.Is(err, disclosure.ErrNotCovered) {
		t.Errorf("events after the last checkpoint: %v", err)
	}
	f.sign()
	if _, _, err := f.export(t, uuid.Nil); err != nil {
		t.Errorf("after the next checkpoint: %v", err)
	}
}

// TestReportGolden: report.html, with hashes, keys and roots (which differ
// with every generated key) replaced by placeholders, is the reviewed one.
// go test ./services/disclosure -update rewrites it.
func TestReportGolden(t *testing.T) {
	f := setup(t)
	_, dir, err := f.export(t, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`caseledger\.test/ledger(?:\+|&#43;)[0-9a-f]{8}(?:\+|&#43;)(?:[A-Za-z0-9/=]|\+|&#43;)+`).ReplaceAllString(string(raw), "KEY")
	got = regexp.MustCompile(`[0-9a-f]{64}`).ReplaceAllString(got, "SHA256")
	golden := filepath.Join("testdata", "report.golden.html")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("report.html differs from %s at line %d:\ngot  %s\nwant %s", golden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("report.html differs from %s in length (%d lines, want %d)", golden, len(gl), len(wl))
	}
	for _, must := range []string{"PASS", "chain of the case", "inclusion in the signed Merkle log", "checkpoint signature", "case review", "withheld (compartment social_work"} {
		if !strings.Contains(got, must) {
			t.Errorf("the report lacks %q", must)
		}
	}
	for _, e := range f.c.Events() {
		if n, ok := e.Data.(domain.NoteAdded); ok && strings.Contains(got, n.Text) {
			t.Errorf("the report shows a note's text")
		}
	}
}

// TestReportPDFRenders: pdftoppm (poppler-utils, installed by the test
// script) turns the PDF's first page into a PNG under testoutput/.
func TestReportPDFRenders(t *testing.T) {
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pdftoppm is not installed; scripts/test.sh installs poppler-utils")
		}
		t.Skip("pdftoppm not installed")
	}
	f := setup(t)
	_, dir, err := f.export(t, uuid.Nil)
	if err != nil {
		t.Fatal(err)
	}
	outDir := os.Getenv("CASELEDGER_TEST_OUTPUT")
	if outDir == "" {
		outDir = "testoutput"
	}
	os.MkdirAll(outDir, 0o755)
	prefix, _ := filepath.Abs(filepath.Join(outDir, "report-page"))
	if out, err := exec.Command(bin, "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", filepath.Join(dir, "report.pdf"), prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	img, err := os.Open(prefix + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	p, err := png.Decode(img)
	if err != nil {
		t.Fatal(err)
	}
	dark := 0
	b := p.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			if r, _, _, _ := p.At(x, y).RGBA(); r < 0x8000 {
				dark++
			}
		}
	}
	if b.Dx() < 500 || dark < 500 {
		t.Fatalf("page one is %dx%d with %d dark samples: no text drawn", b.Dx(), b.Dy(), dark)
	}
	t.Logf("page one: %s.png", prefix)
	pdf, _ := os.ReadFile(filepath.Join(dir, "report.pdf"))
	if !strings.HasPrefix(string(pdf), "%PDF-1.4") {
		t.Fatal("not a PDF")
	}
}
