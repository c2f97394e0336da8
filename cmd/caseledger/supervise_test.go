package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/projections"
)

// TestServeSupervisesItsRoles plays the operator's faults against a real
// serve process (embedded NATS and SQLite): `project --rebuild` beside it
// is refused with the holder named, and the running projector is left
// alone; then the read model is broken with the stock sqlite3 tool (a
// table dropped). The projector's failure shows at once as an ERROR line
// naming the role and /readyz answering 503 naming it and the cause; it is
// restarted, keeps failing, and the process exits non-zero, for its
// service manager to restart it. /readyz is never green with a dead role.
func TestServeSupervisesItsRoles(t *testing.T) {
	bin, _ := binaries(t)
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("the sqlite3 tool is not installed (scripts/test.sh installs it)")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tokens := filepath.Join(dir, "tokens.json")
	os.WriteFile(tokens, []byte(`[{"token":"supervisor-token-0123456789","user_id":"sup-1","role":"supervisor","agency":"police-lavallee"}]`), 0o600)
	natsPort, httpPort, opsPort := freePort(t), freePort(t), freePort(t)
	serve := start(t, bin, "serve", "--data-dir", data, "--nats-listen", "127.0.0.1:"+strconv.Itoa(natsPort),
		"--http-listen", "127.0.0.1:"+strconv.Itoa(httpPort), "--tokens", tokens, "--metrics-listen", "127.0.0.1:"+strconv.Itoa(opsPort),
		"--restart-backoff", "1s", "--restart-limit", "3")
	within(t, 30*time.Second, func() bool { return strings.Contains(serve.out.String(), "caseledger serving") })
	readyz := func() (int, string) {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(opsPort) + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	natsURL := "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	emit := func(seed string) {
		t.Helper()
		if out, err := exec.Command(bin, "emit", "--demo", "3", "--seed", seed, "--nats-url", natsURL, "--data-dir", data).CombinedOutput(); err != nil {
			t.Fatalf("emit: %v\n%s", err, out)
		}
	}
	emit("5")
	within(t, 20*time.Second, func() bool { return checkpointApplied(t, data) > 0 })
	if code, body := readyz(); code != 200 || !strings.Contains(body, `"roles":"ok"`) {
		t.Fatalf("readyz with every role running: %d %s", code, body)
	}

	// A rebuild beside the running projector is refused, naming it.
	out, err := exec.Command(bin, "project", "--rebuild", "case_files", "--data-dir", data).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "read model case_files is kept by serve@") || !strings.Contains(string(out), "stop that process's project role first") {
		t.Fatalf("project --rebuild beside serve: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "project", "--data-dir", data).CombinedOutput(); err != nil || !strings.Contains(string(out), "kept up to date by serve@") {
		t.Fatalf("project beside serve: %v\n%s", err, out)
	}
	if code, body := readyz(); code != 200 || strings.Contains(serve.out.String(), `"level":"ERROR"`) {
		t.Fatalf("the refused rebuild disturbed serve: %d %s\n%s", code, body, serve.out.String())
	}

	// An operator's mistake on the read model: a table dropped under it.
	if out, err := exec.Command("sqlite3", "-cmd", ".timeout 10000", filepath.Join(data, "readmodels.db"), "DROP TABLE timeline").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	// New events reach the broken projector while /readyz is watched: serve
	// may end (as it should, the role failing) before emit has every answer.
	emitted := make(chan struct{})
	go func() {
		defer close(emitted)
		_ = exec.Command(bin, "emit", "--demo", "3", "--seed", "6", "--nats-url", natsURL, "--data-dir", data, "--timeout", "10s").Run()
	}()
	t.Cleanup(func() { <-emitted })
	var body string
	within(t, 20*time.Second, func() bool {
		code, b := readyz()
		body = b
		return code == 503
	})
	if !strings.Contains(body, "role project case_files failed") || !strings.Contains(body, "no such table: timeline") {
		t.Errorf("readyz does not name the role and the cause: %s", body)
	}
	logs := serve.out.String()
	if !strings.Contains(logs, `"level":"ERROR","msg":"role failed","component":"supervisor","role":"project case_files"`) {
		t.Errorf("no ERROR line naming the role:\n%s", logs)
	}
	// It keeps failing: the process ends, non-zero.
	done := make(chan error, 1)
	go func() { done <- serve.cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(serve.out.String(), "role project case_files failed 3 times") {
			t.Fatalf("serve exited with %v:\n%s", err, serve.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve still runs with a role that keeps failing:\n%s", serve.out.String())
	}
	if n := strings.Count(serve.out.String(), `"msg":"role restarting"`); n != 2 {
		t.Errorf("%d restarts before giving up, want 2", n)
	}
}

// TestServeRefusesBeforeMakingAnything: a malformed tokens file and a busy
// HTTP port are both named, before a data directory, a key or the NATS
// server is made.
func TestServeRefusesBeforeMakingAnything(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tokens := filepath.Join(dir, "tokens.json")
	os.WriteFile(tokens, []byte(`[{"token":"short","user_id":"u","role":"chief","agency":"a"}`), 0o600)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	began := time.Now()
	_, _, err = runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": data}, "serve", "--tokens", tokens, "--http-listen", busy.Addr().String(),
		"--nats-listen", "127.0.0.1:"+strconv.Itoa(freePort(t)))
	took := time.Since(began)
	if err == nil {
		t.Fatal("serve started")
	}
	for _, want := range []string{"tokens file " + tokens + " is not a JSON list", "--http-listen " + busy.Addr().String() + " cannot be used: bind: address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the data directory was made before the configuration was checked: %v", err)
	}
	t.Logf("refused in %s", took)
}

// TestServeSettingsFromOneTable: every setting comes from its flag, its
// environment variable or its default, through one table; malformed
// environment values are all named at once, before anything is made, and
// a flag wins over the environment.
func TestServeSettingsFromOneTable(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"CASELEDGER_DATA_DIR": data, "CASELEDGER_LEDGER_INTERVAL": "often", "CASELEDGER_RESTART_LIMIT": "five",
		"CASELEDGER_OTEL_INSECURE": "maybe", "CASELEDGER_FIRST_CONTACT_DAYS": "2.5", "CASELEDGER_RESTART_BACKOFF": "2h"}
	_, _, err := runArgs(t, env, "serve", "--restart-limit", "0")
	if err == nil {
		t.Fatal("serve started")
	}
	for _, want := range []string{"CASELEDGER_LEDGER_INTERVAL is not a duration", "CASELEDGER_RESTART_LIMIT is not a whole number",
		"CASELEDGER_OTEL_INSECURE is not true or false", "CASELEDGER_FIRST_CONTACT_DAYS is not a whole number",
		"--restart-backoff must be a duration from 10ms to 1m", "--restart-limit must be at least 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the data directory was made: %v", err)
	}
}

// TestReadinessSeesAStalledProjection: a projection on standby behind a
// holder that does not write, with events waiting, is not ready once its
// checkpoint has not moved for the stall time; caught up, it is.
func TestReadinessSeesAStalledProjection(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "demo", "--cases", "3"); err != nil {
		t.Fatal(err)
	}
	sc := storeConfig{DataDir: dir}
	st, err := openReader(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := openReadModels(sc)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pr, err := projections.NewRunner(ctx, db, st, projections.CaseFiles{})
	if err != nil {
		t.Fatal(err)
	}
	check := progressing(pr, time.Now().Add(-time.Minute), 100*time.Millisecond)
	pr.Standby.Store(true) // another holder keeps the claim and writes nothing
	if err := check(ctx); err == nil || !strings.Contains(err.Error(), "on standby") {
		t.Fatalf("stalled projection on standby: %v", err)
	}
	pr.Standby.Store(false)
	if _, err := pr.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := check(ctx); err != nil {
		t.Fatalf("caught up: %v", err)
	}
}
