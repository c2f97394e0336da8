package metrics_test

import (
	"context"
	"github.com/caseledger/caseledger/internal/testfixture"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/metrics"
	_ "modernc.org/sqlite"
)

// TestProjectionLag: the metrics page reports a projection's lag in events
// and seconds when it stands behind the record, and zero once caught up.
func TestProjectionLag(t *testing.T) {
	ctx := context.Background()
	st, cases := testfixture.Generated(t, 3, 5)
	total := 0
	for _, c := range cases {
		total += len(c.Events())
	}
	db := testfixture.ReadModels(t)
	r, err := projections.NewRunner(ctx, db, st, projections.CaseFiles{})
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	later := time.Now().Add(time.Hour)
	if err := metrics.RegisterProjections(reg, []*projections.Runner{r}, func() time.Time { return later }); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	if got := scrape(t, srv.URL, `caseledger_projection_lag_events{projection="case_files"}`); got != float64(total) {
		t.Errorf("lag before catching up: %v events, want %d", got, total)
	}
	if got := scrape(t, srv.URL, `caseledger_projection_lag_seconds{projection="case_files"}`); got < 3600 {
		t.Errorf("lag in seconds before catching up: %v, want at least an hour", got)
	}
	if _, err := r.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for metric, want := range map[string]float64{
		`caseledger_projection_lag_events{projection="case_files"}`:           0,
		`caseledger_projection_lag_seconds{projection="case_files"}`:          0,
		`caseledger_projection_applied_events_total{projection="case_files"}`: float64(total),
	} {
		if got := scrape(t, srv.URL, metric); got != want {
			t.Errorf("%s = %v after catching up, want %v", metric, got, want)
		}
	}
	if got := scrape(t, srv.URL, `caseledger_projection_checkpoint_age_seconds{projection="case_files"}`); got < 3500 || got > 3700 {
		t.Errorf("checkpoint age %v, want about an hour (the test's clock)", got)
	}
}

func scrape(t *testing.T, url, metric string) float64 {
	t.Helper()
	res, err := httpGet(url)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(metric) + ` (\S+)$`).FindStringSubmatch(res)
	if m == nil {
		t.Fatalf("%s missing from the metrics page", metric)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
