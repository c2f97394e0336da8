package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMetricsAndReadiness: after a demo load the metrics page shows the
// counters of every role with plausible values, and /readyz turns 503 when
// the NATS server (a separate process) stops, and 200 again when it is
// back.
func TestMetricsAndReadiness(t *testing.T) {
	_, natsBin := binaries(t)
	dir := t.TempDir()
	natsPort := freePort(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	ns := startNATS(t, natsBin, filepath.Join(dir, "nats"), natsPort)
	tokens := filepath.Join(dir, "tokens.json")
	os.WriteFile(tokens, []byte(`[{"token":"supervisor-token-0123456789","user_id":"sup-1","role":"supervisor","agency":"police-lavallee"}]`), 0o600)
	httpPort, opsPort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--nats-url", url, "--http-listen", "127.0.0.1:" + httpPort,
			"--tokens", tokens, "--metrics-listen", "127.0.0.1:" + opsPort, "--ledger-interval", "1s"}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "caseledger serving") })
	ops := "http://127.0.0.1:" + opsPort
	get := func(path string) (int, string) {
		resp, err := http.Get(ops + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"nats":"ok"`) || !strings.Contains(body, `"readmodels":"ok"`) {
		t.Fatalf("readyz at start: %d %s", code, body)
	}
	env := map[string]string{"CASELEDGER_NATS_URL": url, "CASELEDGER_KEYS_DIR": keysBeside(filepath.Join(dir, "data"))}
	if got, _, err := runArgs(t, env, "emit", "--demo", "6", "--seed", "8"); err != nil {
		t.Fatalf("emit: %v\n%s", err, got)
	}
	// A command ingest itself must refuse: raw unsigned bytes on the intake subject.
	raw, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Request(natsbus.IntakeSubject("add_note"), []byte(`{"case_id":`), 10*time.Second); err != nil {
		t.Fatalf("raw intake: %v", err)
	}
	raw.Close()
	c, _ := gen.New(8).Case()
	within(t, 20*time.Second, func() bool {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+httpPort+"/v1/cases/"+c.ID.String()+"?purpose=review", nil)
		req.Header.Set("Authorization", "Bearer supervisor-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	value := func(body, metric string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(metric) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body = get("/metrics")
		// One scrape is not a snapshot: the ledger's leaves are read before
		// its last checkpoint, so a scrape during its first signing can show
		// the checkpoint and not yet the leaves. Wait for both.
		if value(body, `caseledger_projection_lag_events{projection="case_files"}`) == 0 && value(body, "caseledger_relay_lag_events") == 0 &&
			value(body, "caseledger_ledger_checkpoint_size") > 0 && value(body, "caseledger_ledger_leaves") >= value(body, "caseledger_ledger_checkpoint_size") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lags never reached 0:\n%s", grepLines(body, "caseledger_"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for metric, least := range map[string]float64{
		`caseledger_ingest_commands_total{outcome="accepted"}`:                100,
		`caseledger_ingest_rejected_total{code="unauthenticated"}`:            1,
		`caseledger_append_seconds_count`:                                     1,
		`caseledger_relay_published_events_total`:                             100,
		`caseledger_access_records_total{result="written"}`:                   1,
		`caseledger_ledger_leaves`:                                            100,
		`caseledger_projection_applied_events_total{projection="case_files"}`: 100,
	} {
		if v := value(body, metric); v < least {
			t.Errorf("%s = %v, want at least %v", metric, v, least)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s\nserve's log:\n%s", grepLines(body, "caseledger_"), out.String())
	}
	if v := value(body, "caseledger_ledger_checkpoint_age_seconds"); v < 0 || v > 60 {
		t.Errorf("checkpoint age %v s", v)
	}
	if strings.Contains(body, "MNI-") || strings.Contains(body, c.ID.String()) {
		t.Error("the metrics page carries ids of people or cases")
	}

	ns.stop(t)
	within(t, 20*time.Second, func() bool {
		code, body := get("/readyz")
		return code == 503 && strings.Contains(body, `"nats":"NATS connection is`)
	})
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz while NATS is down: %d", code)
	}
	startNATS(t, natsBin, filepath.Join(dir, "nats"), natsPort)
	within(t, 30*time.Second, func() bool { code, _ := get("/readyz"); return code == 200 })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, out.String())
	}
}

func grepLines(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestThreeRolesOnExternalNATSAndPostgres: three caseledger processes in
// separate roles (ingest with the API, which appends access records and so
// runs where the embedded store is written; relay; project) against one
// nats-server process and the machine's PostgreSQL, all on loopback:
// commands sent on NATS come out of the API as the case and its timeline,
// and out of CASE_EVENTS.
func TestThreeRolesOnExternalNATSAndPostgres(t *testing.T) {
	pg := os.Getenv("CASELEDGER_TEST_POSTGRES")
	if pg == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CASELEDGER_TEST_POSTGRES is not set in CI")
		}
		t.Skip("CASELEDGER_TEST_POSTGRES not set")
	}
	bin, natsBin := binaries(t)
	dir := t.TempDir()
	natsPort := freePort(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	startNATS(t, natsBin, filepath.Join(dir, "nats"), natsPort)
	// A schema of its own in the test database.
	admin, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	schema := "roles_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE"); admin.Close() })
	readModels := pg + "&search_path=" + schema
	tokens := filepath.Join(dir, "tokens.json")
	os.WriteFile(tokens, []byte(`[{"token":"supervisor-token-0123456789","user_id":"sup-1","role":"supervisor","agency":"police-lavallee"}]`), 0o600)
	data := filepath.Join(dir, "data")
	httpPort := strconv.Itoa(freePort(t))
	api := start(t, bin, "serve", "--role", "ingest,api", "--nats-url", url, "--data-dir", data, "--readmodel-url", readModels,
		"--http-listen", "127.0.0.1:"+httpPort, "--tokens", tokens)
	within(t, 30*time.Second, func() bool { return strings.Contains(api.out.String(), "caseledger serving") })
	project := start(t, bin, "serve", "--role", "project", "--nats-url", url, "--data-dir", data, "--readmodel-url", readModels)
	relay := start(t, bin, "serve", "--role", "relay", "--nats-url", url, "--data-dir", data)
	for _, p := range []*proc{project, relay} {
		within(t, 30*time.Second, func() bool { return strings.Contains(p.out.String(), "caseledger serving") })
	}
	if got, _, err := runArgs(t, map[string]string{"CASELEDGER_NATS_URL": url, "CASELEDGER_KEYS_DIR": keysBeside(data)}, "emit", "--demo", "4", "--seed", "12"); err != nil {
		t.Fatalf("emit: %v\n%s", err, got)
	}
	c, _ := gen.New(12).Case()
	var body map[string]any
	defer func() {
		if t.Failed() {
			t.Logf("last body %v\nproject:\n%s\napi:\n%s", body, project.out.String(), api.out.String())
		}
	}()
	within(t, 30*time.Second, func() bool {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+httpPort+"/v1/cases/"+c.ID.String()+"/timeline?purpose=review&limit=1000", nil)
		req.Header.Set("Authorization", "Bearer supervisor-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body = nil
		json.NewDecoder(resp.Body).Decode(&body)
		entries, _ := body["entries"].([]any)
		return resp.StatusCode == 200 && len(entries) == len(c.Events())-sealed(c)
	})
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cases, _ := gen.New(12).Cases(4)
	want := 0
	for _, k := range cases {
		want += len(k.Events())
	}
	within(t, 30*time.Second, func() bool { return eventMsgs(t, js) == uint64(want) })
	for _, p := range []*proc{relay, project, api} {
		p.stop(t)
		if !strings.Contains(p.out.String(), "stopped cleanly") {
			t.Errorf("a role did not stop cleanly:\n%s", p.out.String())
		}
	}
}

// sealed counts a case's sealed entries, which no API read shows without
// an order.
func sealed(c gen.Case) int {
	n := 0
	for _, e := range c.Events() {
		if e.Meta.Compartment == "sealed" {
			n++
		}
	}
	return n
}
