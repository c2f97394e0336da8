package api_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/projections"
)

// TestDashboardPageInChromium loads the dashboard page in headless Chromium
// against the API over generated cases, and reads back the rendered DOM:
// the figures equal the API's, and the charts are drawn. scripts/test.sh
// installs Chromium; without it the test says so (and fails in CI).
func TestDashboardPageInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; scripts/test.sh installs it")
		}
		t.Skip("chromium not installed")
	}
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=10000", "--dump-dom", f.srv.URL+"/dashboard#token=sup-token-0123456789abcdefghi")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
	if !strings.Contains(dom, `data-loaded="yes"`) {
		t.Fatalf("the page did not load its data:\n%.2000s", dom)
	}
	db := f.db
	want, err := projections.ReadDashboard(ctx, db, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
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
}
