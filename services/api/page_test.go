package api_test

import (
	"context"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/projections"
)

// chromium loads url in headless Chromium and returns the DOM after its
// scripts ran. scripts/test.sh installs Chromium; without it the test says
// so (and fails in CI).
func chromium(t *testing.T, url string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; scripts/test.sh installs it")
		}
		t.Skip("chromium not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=10000", "--dump-dom", url).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return string(out)
}

// TestDashboardPageInChromium loads the dashboard page in headless Chromium
// against the API over generated cases, and reads back the rendered DOM:
// the figures equal the API's, and the charts are drawn. scripts/test.sh
// installs Chromium; without it the test says so (and fails in CI).
func TestDashboardPageInChromium(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	dom := chromium(t, f.srv.URL+"/dashboard#token=sup-token-0123456789abcdefghi")
	if !strings.Contains(dom, `data-loaded="yes"`) {
		t.Fatalf("the page did not load its data:\n%.2000s", dom)
	}
	db := f.db
	want, err := projections.ReadDashboard(ctx, db, "police-lavallee", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), projections.DefaultContactRule())
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range map[string]int{"open-cases": want.OpenCases, "closed-cases": want.ClosedCases, "missed-contacts": want.MissedContacts, "breaches": want.Breaches} {
		m := regexp.MustCompile(`data-figure="` + id + `"[^>]*><b>(\d+)</b>`).FindStringSubmatch(dom)
		if m == nil || m[1] != strconv.Itoa(n) {
			t.Errorf("figure %s: page %v, API %d", id, m, n)
		}
	}
	if bars := strings.Count(dom, "<rect"); bars < 5 {
		t.Errorf("only %d bars drawn", bars)
	}
	if strings.Contains(dom, "sup-token") {
		t.Error("the token is in the page")
	}
	shot := screenshot(t, f.srv.URL+"/dashboard#token=sup-token-0123456789abcdefghi", "dashboard.png")
	t.Logf("screenshot: %s", shot)
}

// screenshot saves the page as a PNG under testoutput/ (or
// $CASELEDGER_TEST_OUTPUT), checks it is a picture with something drawn on
// it, and returns its path.
func screenshot(t *testing.T, url, name string) string {
	t.Helper()
	dir := os.Getenv("CASELEDGER_TEST_OUTPUT")
	if dir == "" {
		dir = "testoutput"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=10000", "--window-size=1280,1400", "--screenshot="+path, url).CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	colours := map[color.Color]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			colours[img.At(x, y)] = true
		}
	}
	if b.Dx() != 1280 || len(colours) < 10 {
		t.Fatalf("%s: %dx%d with %d colours: nothing drawn", path, b.Dx(), b.Dy(), len(colours))
	}
	return path
}

// TestCasePageInChromium opens a case page for a supervisor: it records
// the access, renders the state and the timeline, and shows corrections and
// markings in error beside the entries they affect.
func TestCasePageInChromium(t *testing.T) {
	f := setup(t)
	// A case with a correction or a marking in error, if the fixture has one.
	c := f.cases[0]
	var target string
	for _, k := range f.cases {
		for _, e := range k.Events() {
			if e.Type() == "case.entry_corrected" || e.Type() == "case.entry_marked_in_error" {
				c = k
			}
		}
	}
	for _, e := range c.Events() {
		switch d := e.Data.(type) {
		case domain.EntryCorrected:
			target = d.TargetEventID.String()
		case domain.EntryMarkedInError:
			target = d.TargetEventID.String()
		}
	}
	before := len(f.accessRecords(t))
	dom := chromium(t, f.srv.URL+"/cases/"+c.ID.String()+"#token=sup-token-0123456789abcdefghi&purpose=case%20review")
	if !strings.Contains(dom, `data-loaded="yes"`) {
		t.Fatalf("the case page did not load:\n%.2000s", dom)
	}
	if got := strings.Count(dom, "data-event-id="); got != len(c.Events()) {
		t.Errorf("%d timeline rows for %d events (a supervisor sees every non-sealed entry)", got, len(c.Events()))
	}
	tag := regexp.MustCompile(`<tr[^>]*data-event-id="` + target + `"[^>]*>`).FindString(dom)
	if target != "" && !regexp.MustCompile(`class="[^"]*(corrected|in_error)`).MatchString(tag) {
		t.Errorf("the entry %s is not shown as corrected or in error", target)
	}
	if after := len(f.accessRecords(t)); after < before+2 {
		t.Errorf("%d access records for the page's reads", after-before)
	}
}

// TestCasePageShowsAnEntryInChromium: the case page opens one entry with
// its personal fields for a reader entitled to its compartment, and shows
// the refusal, without the text, to one who is not.
func TestCasePageShowsAnEntryInChromium(t *testing.T) {
	f := setup(t)
	c := f.cases[0].ID
	const sw, off = "sw-token-0123456789abcdefghij", "officer-token-0123456789abcd"
	note := f.do(t, sw, domain.AddNote{CommandHeader: domain.CommandHeader{CaseID: c, CommandID: domain.EventID(c, 880), Actor: tokens[sw],
		OccurredAt: time.Date(2024, 1, 2, 1, 0, 0, 0, time.UTC), SourceSystem: "sw-app"},
		NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c, 881), Text: "She asked for the shelter's number."}})
	if _, err := f.runner.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	page := f.srv.URL + "/cases/" + c.String() + "#purpose=follow-up&entry=" + note + "&token="
	dom := chromium(t, page+sw)
	if !strings.Contains(dom, `data-entry="loaded"`) || !strings.Contains(dom, "She asked for the shelter") {
		t.Fatalf("the social worker's own note did not open:\n%.3000s", dom)
	}
	dom = chromium(t, page+off)
	if !strings.Contains(dom, `data-entry="refused"`) || strings.Contains(dom, "shelter's number") {
		t.Fatalf("an officer opened a social-work note:\n%.3000s", dom)
	}
}
