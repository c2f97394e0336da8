package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/caseledger/caseledger/internal/testfixture"
	"github.com/caseledger/caseledger/services/ledger"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go/jetstream"
)

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a log sink safe for goroutines.
type syncBuffer = testfixture.SyncBuffer

// TestServeAndEmit runs `caseledger serve` in-process on its embedded NATS,
// emits generated cases and single commands with `caseledger emit`, stops
// serve with its context (Ctrl-C) and verifies the record.
func TestServeAndEmit(t *testing.T) {
	dir := t.TempDir()
	port := strconv.Itoa(freePort(t))
	url := "nats://127.0.0.1:" + port
	ctx, stop := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", dir, "--nats-listen", "127.0.0.1:" + port}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "caseledger serving") })

	keys := keysBeside(dir)
	env := map[string]string{"CASELEDGER_NATS_URL": url, "CASELEDGER_KEYS_DIR": keys}
	got, _, err := runArgs(t, env, "emit", "--demo", "15", "--seed", "4")
	if err != nil || !strings.Contains(got, "emitted 15 of 15 cases") || !strings.Contains(got, " 0 refused, 0 unknown") {
		t.Fatalf("emit --demo: %v\n%s", err, got)
	}
	// One command from stdin: a note on one of the cases just emitted.
	c, _ := gen.New(4).Case()
	note := domain.AddNote{CommandHeader: c.Steps[0].Command.Head(), NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c.ID, 99), Text: "Client called back."}}
	note.CommandID = domain.EventID(c.ID, 98)
	note.OccurredAt = c.Steps[len(c.Steps)-1].Now.Add(time.Hour)
	_, body, _ := domain.EncodeCommand(note)
	got, _, err = runStdin(t, env, string(body), "emit", "--command", "add_note")
	if err != nil || !strings.Contains(got, `"accepted": true`) {
		t.Fatalf("emit --command: %v\n%s", err, got)
	}
	// A rejected command: exit code 3 (errRejected) and the outcome printed.
	got, _, err = runStdin(t, env, string(body[:len(body)-5]), "emit", "--command", "add_note")
	if !errors.Is(err, errRejected) {
		t.Fatalf("malformed command: %v\n%s", err, got)
	}
	got, _, err = runStdin(t, env, `{"case_id":"`+c.ID.String()+`"}`, "emit", "--command", "add_note")
	if !errors.Is(err, errRejected) {
		t.Fatalf("incomplete command: %v\n%s", err, got)
	}

	// The checkpoint signed at shutdown is published on NATS too.
	nc := connectAs(t, url, keys, natsbus.RoleOps)
	published, err := nc.SubscribeSync(ledger.Subject)
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of its context ending")
	}
	if msg, err := published.NextMsg(5 * time.Second); err != nil || !strings.Contains(string(msg.Data), `"origin":"caseledger.local/ledger"`) {
		t.Fatalf("no checkpoint published on %s at shutdown: %v", ledger.Subject, err)
	}
	if !strings.Contains(out.String(), "stopped cleanly") {
		t.Fatalf("serve output:\n%s", out.String())
	}
	// 15 cases and the ledger's checkpoints (at least the one signed at
	// shutdown), every signed root matching the log rebuilt from the record.
	report, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "verify")
	_, accessStreams := accessRecords(t, dir)
	if err != nil || !strings.Contains(report, fmt.Sprintf("in %d streams", 16+accessStreams)) || !strings.Contains(report, "every chain holds") ||
		!regexp.MustCompile(`[1-9]\d* signed checkpoints match the record`).MatchString(report) {
		t.Fatalf("verify after serve: %v\n%s", err, report)
	}
	pub, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "ledger", "pubkey")
	if err != nil || !strings.HasPrefix(pub, "caseledger.local/ledger+") || !strings.Contains(report, strings.TrimSpace(pub)) {
		t.Fatalf("ledger pubkey: %v %q\n%s", err, pub, report)
	}
	// The case's disclosure bundle, checked by caseverify built on its own.
	bundle := filepath.Join(t.TempDir(), "bundle")
	got, _, err = runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "export", "--as", "aud-1", "--purpose", "disclosure R. v. X", c.ID.String(), "--out", bundle)
	if err != nil || !strings.Contains(got, "bundle SHA-256") {
		t.Fatalf("export: %v\n%s", err, got)
	}
	// The export is in the bundle's own access log and report, with who
	// and why.
	for _, f := range []string{"access.json", "report.html", "manifest.json"} {
		b, err := os.ReadFile(filepath.Join(bundle, f))
		if err != nil || !strings.Contains(string(b), "aud-1") {
			t.Errorf("%s does not name the exporter aud-1: %v", f, err)
		}
		if f != "manifest.json" && !strings.Contains(string(b), "disclosure R. v. X") {
			t.Errorf("%s does not give the export's purpose", f)
		}
	}
	if _, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "export", c.ID.String(), "--out", filepath.Join(t.TempDir(), "anon")); !errors.Is(err, errUsage) ||
		!strings.Contains(err.Error(), "--as USER is required") || !strings.Contains(err.Error(), "--purpose is required") {
		t.Errorf("export without --as and --purpose: %v", err)
	}
	cv := filepath.Join(t.TempDir(), "caseverify")
	if out, err := exec.Command("go", "build", "-o", cv, "../caseverify").CombinedOutput(); err != nil {
		t.Fatalf("build caseverify: %v\n%s", err, out)
	}
	if out, err := exec.Command(cv, bundle, "--pubkey", filepath.Join(keysBeside(dir), "ledger", "ledger.pub")).CombinedOutput(); err != nil || !strings.Contains(string(out), "VERIFIED: case "+c.ID.String()) {
		t.Fatalf("caseverify: %v\n%s", err, out)
	}
	if _, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "export", "--as", "aud-1", "--purpose", "disclosure R. v. X", c.ID.String(), "--out", bundle); err == nil {
		t.Fatal("export over a non-empty directory")
	}
	// The command line's export is judged by the same access policy: an
	// auditor of another agency is refused; an order that does not stand
	// opens nothing, and the bundle says why.
	if _, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "export", "--as", "aud-1", "--purpose", "disclosure R. v. X", c.ID.String(), "--out", t.TempDir(), "--agency", "police-montreal"); err == nil ||
		!strings.Contains(err.Error(), "export refused: the case is not open to the reader's agency") {
		t.Fatalf("export by another agency's auditor: %v", err)
	}
	got, _, err = runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "export", "--as", "aud-1", "--purpose", "disclosure R. v. X", c.ID.String(), "--out", filepath.Join(t.TempDir(), "b"), "--order", "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b")
	if err != nil || !strings.Contains(got, "not applied: no production order with this id is recorded on the case") {
		t.Fatalf("export under an unrecorded order: %v\n%s", err, got)
	}
	if _, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "export", "--as", "aud-1", "--purpose", "disclosure R. v. X", "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", "--out", t.TempDir()); !errors.Is(err, errNotFound) {
		t.Fatalf("export of an unknown case: %v", err)
	}
	// Checked with another key, the checkpoints fail.
	other := filepath.Join(t.TempDir(), "other.pub")
	otherKey, _, _ := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": t.TempDir(), "CASELEDGER_KEYS_DIR": t.TempDir()}, "ledger", "pubkey")
	os.WriteFile(other, []byte(otherKey), 0o644)
	if report, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "verify", "--pubkey", other); !errors.Is(err, errLedger) || !strings.Contains(report, "CHECKPOINT FAILS") {
		t.Fatalf("verify with another key: %v\n%s", err, report)
	}
}

func TestServeConfigListsEveryProblem(t *testing.T) {
	_, _, err := runArgs(t, nil, "serve", "--nats-listen", "nohost", "--role", "projector", "--eventstore-url", "mysql://x", "--oidc-issuer", "https://idp", "--first-contact-days", "-3")
	if !errors.Is(err, errUsage) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"--nats-listen must be host:port", "--role must be one of", "--eventstore-url must start with", "--oidc-issuer, --oidc-audience and --oidc-jwks-url go together", "--first-contact-days: first-contact rule: -3 working days"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, _, err := runArgs(t, nil, "serve", "--role", "api"); err == nil || !strings.Contains(err.Error(), "--role api needs to write access records") {
		t.Errorf("the API alone on the embedded store: %v", err)
	}
	if _, _, err := runArgs(t, nil, "serve", "--role", "ingest,projector"); err == nil || !strings.Contains(err.Error(), "--role must be one of") {
		t.Errorf("an unknown role in a list: %v", err)
	}
	holidays := filepath.Join(t.TempDir(), "holidays.txt")
	os.WriteFile(holidays, []byte("2025-06-24\n24 juin\n"), 0o600)
	_, _, err = runArgs(t, nil, "serve", "--data-dir", t.TempDir(), "--holidays", holidays)
	if err == nil || !strings.Contains(err.Error(), "line 2: not a YYYY-MM-DD date") {
		t.Errorf("serve with a bad holiday file: %v", err)
	}
	_, _, err = runArgs(t, nil, "emit")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--command NAME") {
		t.Errorf("emit without a command: %v", err)
	}
	_, _, err = runArgs(t, nil, "emit", "--command", "drop_table")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "not a caseledger command") {
		t.Errorf("emit unknown command: %v", err)
	}
}

func within(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSignedEmitters: serve with an emitters registry records only what a
// registered emitter signed.
func TestSignedEmitters(t *testing.T) {
	dir := t.TempDir()
	entry, _, err := runArgs(t, nil, "keygen", "--emitter", "cad", "--agencies", "police-lavallee", "--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(dir, "emitters.json")
	if err := os.WriteFile(reg, []byte("["+strings.TrimSpace(entry)+"]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runArgs(t, nil, "keygen", "--emitter", "cad", "--agencies", "police-lavallee", "--out", dir); err == nil {
		t.Fatal("keygen overwrote a key")
	}
	port := strconv.Itoa(freePort(t))
	ctx, stop := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:" + port, "--emitters", reg}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "caseledger serving") })
	c, _ := gen.New(6).Case()
	open := c.Steps[0].Command.(domain.OpenCase)
	open.SourceSystem = "cad"
	_, body, _ := domain.EncodeCommand(open)
	env := map[string]string{"CASELEDGER_NATS_URL": "nats://127.0.0.1:" + port, "CASELEDGER_KEYS_DIR": keysBeside(filepath.Join(dir, "data"))}
	if got, _, err := runStdin(t, env, string(body), "emit", "--command", "open_case"); !errors.Is(err, errRejected) || !strings.Contains(got, "unauthenticated") {
		t.Fatalf("unsigned: %v\n%s", err, got)
	}
	other := open
	other.Actor.Agency, other.Agency = "police-montreal", "police-montreal"
	_, otherBody, _ := domain.EncodeCommand(other)
	if got, _, err := runStdin(t, env, string(otherBody), "emit", "--command", "open_case", "--emitter", "cad", "--key", filepath.Join(dir, "cad.key")); !errors.Is(err, errRejected) || !strings.Contains(got, "actor.agency") {
		t.Fatalf("signed for an agency the emitter is not registered for: %v\n%s", err, got)
	}
	if got, _, err := runStdin(t, env, string(body), "emit", "--command", "open_case", "--emitter", "cad", "--key", filepath.Join(dir, "cad.key")); err != nil || !strings.Contains(got, `"accepted": true`) {
		t.Fatalf("signed: %v\n%s", err, got)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRolesAsSeparateProcesses: on one data directory, an ingest-only serve
// and a relay-and-project serve run side by side against one NATS (the
// first one's embedded server): the reading roles do not take the store's
// lock.
func TestRolesAsSeparateProcesses(t *testing.T) {
	dir := t.TempDir()
	port := strconv.Itoa(freePort(t))
	url := "nats://127.0.0.1:" + port
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var ingestOut, relayOut syncBuffer
	done := make(chan error, 2)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", dir, "--nats-listen", "127.0.0.1:" + port, "--role", "ingest"}, func(string) string { return "" }, strings.NewReader(""), &ingestOut, &ingestOut)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(ingestOut.String(), "caseledger serving") })
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", dir, "--nats-url", url, "--role", "relay"}, func(string) string { return "" }, strings.NewReader(""), &relayOut, &relayOut)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(relayOut.String(), "caseledger serving") })
	if got, _, err := runArgs(t, map[string]string{"CASELEDGER_NATS_URL": url, "CASELEDGER_KEYS_DIR": keysBeside(dir)}, "emit", "--demo", "5"); err != nil {
		t.Fatalf("emit: %v\n%s", err, got)
	}
	// The relay process, reading the store beside the writer, relays them.
	cases, _ := gen.New(1).Cases(5)
	want := 0
	for _, c := range cases {
		want += len(c.Events())
	}
	js, _ := jetstream.New(connectAs(t, url, keysBeside(dir), natsbus.RoleOps))
	within(t, 30*time.Second, func() bool { return eventMsgs(t, js) == uint64(want) })
	stop()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeAPI: serve with a tokens file answers the API over the demo
// data it ingested, and refuses a request without a token.
func TestServeAPI(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	os.WriteFile(tokens, []byte(`[{"token":"supervisor-token-0123456789","user_id":"sup-1","role":"supervisor","agency":"police-lavallee"}]`), 0o600)
	port, httpPort, metricsPort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:" + port, "--http-listen", "127.0.0.1:" + httpPort, "--tokens", tokens,
			"--metrics-listen", "127.0.0.1:" + metricsPort}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "caseledger serving") })
	if got, _, err := runArgs(t, map[string]string{"CASELEDGER_NATS_URL": "nats://127.0.0.1:" + port, "CASELEDGER_KEYS_DIR": keysBeside(filepath.Join(dir, "data"))}, "emit", "--demo", "3"); err != nil {
		t.Fatalf("emit: %v\n%s", err, got)
	}
	c, _ := gen.New(1).Case()
	url := "http://127.0.0.1:" + httpPort + "/v1/cases/" + c.ID.String() + "?purpose=review"
	within(t, 20*time.Second, func() bool {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer supervisor-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 // once the projection has the case
	})
	// The projection's lag is on the metrics page, and reaches zero once
	// it has applied everything ingested.
	within(t, 20*time.Second, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + metricsPort + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "\ncaseledger_projection_lag_events{projection=\"case_files\"} 0\n") &&
			strings.Contains(string(b), "\ncaseledger_projection_lag_seconds{projection=\"case_files\"} 0\n")
	})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
