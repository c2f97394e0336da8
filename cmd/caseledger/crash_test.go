package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// These tests run caseledger and nats-server as separate processes, both
// built by the go command, and kill or restart them mid-stream.

var (
	buildOnce          sync.Once
	binDir, buildError = "", error(nil)
)

// binaries builds caseledger and nats-server once per test run.
func binaries(t *testing.T) (caseledger, natsServer string) {
	t.Helper()
	if testing.Short() {
		t.Skip("process tests build binaries; skipped in -short mode")
	}
	buildOnce.Do(func() {
		binDir, buildError = os.MkdirTemp("", "caseledger-bin-")
		if buildError != nil {
			return
		}
		for _, b := range [][]string{
			{"-o", filepath.Join(binDir, "caseledger"), "."},
			{"-o", filepath.Join(binDir, "nats-server"), "github.com/nats-io/nats-server/v2"},
		} {
			out, err := exec.Command("go", append([]string{"build"}, b...)...).CombinedOutput()
			if err != nil {
				buildError = fmt.Errorf("go build %v: %v\n%s", b, err, out)
				return
			}
		}
	})
	if buildError != nil {
		t.Fatal(buildError)
	}
	return filepath.Join(binDir, "caseledger"), filepath.Join(binDir, "nats-server")
}

// proc is a child process with its output kept for failure messages.
type proc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &syncBuffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s exited with %v:\n%s", filepath.Base(p.cmd.Path), err, p.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30s of SIGTERM", filepath.Base(p.cmd.Path))
	}
}

func startNATS(t *testing.T, bin, dir string, port int) *proc {
	t.Helper()
	p := start(t, bin, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	within(t, 20*time.Second, func() bool {
		nc, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(port))
		if err == nil {
			nc.Close()
		}
		return err == nil
	})
	return p
}

func startServe(t *testing.T, bin, dataDir, url string) *proc {
	t.Helper()
	p := start(t, bin, "serve", "--data-dir", dataDir, "--nats-url", url)
	within(t, 30*time.Second, func() bool { return strings.Contains(p.out.String(), "caseledger serving") })
	return p
}

// streamMsgs counts the messages in a JetStream stream.
func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		return 0
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// eventMsgs counts the relayed events in every compartment's stream.
func eventMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	var n uint64
	for _, c := range natsbus.EventCompartments {
		n += streamMsgs(t, js, natsbus.EventStream(c))
	}
	return n
}

// relayedIDs reads every compartment stream (through js, or through the
// connection that may read it) and returns the event ids relayed, failing
// on one relayed twice or on a stream holding another's subjects.
func relayedIDs(t *testing.T, jsFor func(domain.Compartment) jetstream.JetStream) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ids := map[string]bool{}
	for _, c := range natsbus.EventCompartments {
		js := jsFor(c)
		n := streamMsgs(t, js, natsbus.EventStream(c))
		if n == 0 {
			continue
		}
		st, err := js.Stream(ctx, natsbus.EventStream(c))
		if err != nil {
			t.Fatal(err)
		}
		cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			id := m.Headers().Get(nats.MsgIdHdr)
			if ids[id] {
				t.Fatalf("event %s relayed twice", id)
			}
			if !strings.HasPrefix(m.Subject(), natsbus.EventsPrefix+string(c)+".") {
				t.Fatalf("%s holds %s", natsbus.EventStream(c), m.Subject())
			}
			ids[id] = true
		}
	}
	return ids
}

// localSigner is the local emitter serve makes in a keys directory.
func localSigner(t *testing.T, keysDir string) *intake.Signer {
	t.Helper()
	var s *intake.Signer
	within(t, 30*time.Second, func() bool {
		var err error
		s, err = intake.LoadSigner(localEmitterName, filepath.Join(emittersDir(keysDir), localEmitterName+".key"))
		return err == nil
	})
	return s
}

// connectAs connects to serve's embedded NATS with one of the identities
// serve wrote in the keys directory.
func connectAs(t *testing.T, url, keysDir, role string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	co, err := natsbus.ClientOptions(filepath.Join(keysDir, natsbus.AuthorityDir, role+".creds"), "")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, append(co, opts...)...)
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// publishCases publishes every command of the cases to INTAKE, each case in
// order, retrying each publish until NATS stores it (as an emitter would
// across an outage); the command id is the message id, so a retry that had
// in fact been stored is dropped by JetStream.
func publishCases(t *testing.T, client *intake.Client, cases []gen.Case) {
	t.Helper()
	for _, c := range cases {
		for _, step := range c.Steps {
			for attempt := 0; ; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := client.Publish(ctx, step.Command)
				cancel()
				if err == nil {
					break
				}
				if attempt > 200 {
					t.Fatalf("publish kept failing: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

// checkRecord stops serve and checks the record: every generated event
// stored exactly once with intact chains, and relayed exactly once.
func checkRecord(t *testing.T, bin, dataDir string, js jetstream.JetStream, cases []gen.Case, serve *proc) {
	t.Helper()
	want := 0
	for _, c := range cases {
		want += len(c.Events())
	}
	deadline := time.Now().Add(3 * time.Minute)
	for streamMsgs(t, js, natsbus.IntakeStream) != 0 || eventMsgs(t, js) != uint64(want) {
		if time.Now().After(deadline) {
			out := serve.out.String()
			t.Fatalf("not drained in 3 minutes: INTAKE %d, event streams %d of %d events, REJECTED %d; serve's log ends:\n%s",
				streamMsgs(t, js, natsbus.IntakeStream), eventMsgs(t, js), want, streamMsgs(t, js, natsbus.RejectedStream),
				out[max(0, len(out)-3000):])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := streamMsgs(t, js, natsbus.RejectedStream); n != 0 {
		t.Fatalf("%d commands rejected", n)
	}
	// Exactly once on the event streams: every generated event id.
	relayed := relayedIDs(t, func(domain.Compartment) jetstream.JetStream { return js })
	for _, c := range cases {
		for _, e := range c.Events() {
			if !relayed[e.ID.String()] {
				t.Fatalf("event %s not relayed", e.ID)
			}
		}
	}
	out, err := exec.Command(bin, "verify", "--data-dir", dataDir).CombinedOutput()
	accessEvents, accessStreams := accessRecords(t, dataDir)
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("verified %d events in %d streams", want+accessEvents, len(cases)+accessStreams)) || !strings.Contains(string(out), "every chain holds") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

// TestKill9MidStream kills serve with SIGKILL while thousands of commands
// are in flight, restarts it, and checks that every command was recorded
// exactly once and relayed exactly once.
func TestKill9MidStream(t *testing.T) {
	bin, natsBin := binaries(t)
	dir := t.TempDir()
	port := freePort(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	startNATS(t, natsBin, filepath.Join(dir, "nats"), port)
	dataDir := filepath.Join(dir, "data")
	serve := startServe(t, bin, dataDir, url)

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	client, _ := intake.New(nc)
	client = client.WithSigner(localSigner(t, keysBeside(dataDir)))
	cases, err := gen.New(71).Cases(120)
	if err != nil {
		t.Fatal(err)
	}
	published := make(chan struct{})
	go func() { defer close(published); publishCases(t, client, cases) }()
	within(t, time.Minute, func() bool { return eventMsgs(t, js) > 300 })
	serve.kill() // SIGKILL: no drain, no flush
	if strings.Contains(serve.out.String(), "stopped cleanly") {
		t.Fatal("serve was not killed mid-stream")
	}
	<-published
	serve = startServe(t, bin, dataDir, url)
	checkRecord(t, bin, dataDir, js, cases, serve)
	serve.stop(t)
}

// TestNATSRestartMidStream restarts the nats-server process while commands
// flow: emitters retry, serve reconnects, and nothing is lost or doubled.
func TestNATSRestartMidStream(t *testing.T) {
	bin, natsBin := binaries(t)
	dir := t.TempDir()
	port := freePort(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	natsDir := filepath.Join(dir, "nats")
	ns := startNATS(t, natsBin, natsDir, port)
	dataDir := filepath.Join(dir, "data")
	serve := startServe(t, bin, dataDir, url)

	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	client, _ := intake.New(nc)
	client = client.WithSigner(localSigner(t, keysBeside(dataDir)))
	cases, err := gen.New(72).Cases(80)
	if err != nil {
		t.Fatal(err)
	}
	published := make(chan struct{})
	go func() { defer close(published); publishCases(t, client, cases) }()
	within(t, time.Minute, func() bool { return eventMsgs(t, js) > 200 })
	ns.stop(t)
	time.Sleep(time.Second)
	startNATS(t, natsBin, natsDir, port)
	<-published
	checkRecord(t, bin, dataDir, js, cases, serve)
	serve.stop(t)
	if !strings.Contains(serve.out.String(), "stopped cleanly") {
		t.Fatalf("serve output:\n%s", serve.out.String())
	}
}

// TestProjectKilledMidRebuild kills `caseledger project --rebuild` with
// SIGKILL while it is writing, lets a second run finish, and compares every
// read-model table with a rebuild from zero made elsewhere: the checkpoint
// moved with the rows, so nothing was applied twice or skipped.
func TestProjectKilledMidRebuild(t *testing.T) {
	bin, _ := binaries(t)
	dir, _ := demoInto(t, "1500")
	env := map[string]string{"CASELEDGER_DATA_DIR": dir}
	if _, _, err := runArgs(t, env, "project"); err != nil {
		t.Fatal(err)
	}
	total := checkpointApplied(t, dir)
	killed := false
	for attempt := 0; attempt < 5 && !killed; attempt++ {
		p := start(t, bin, "project", "--rebuild", "case_files", "--data-dir", dir)
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if n := checkpointApplied(t, dir); n > 0 && n < total {
				p.kill()
				killed = checkpointApplied(t, dir) < total
				break
			}
			if p.cmd.ProcessState != nil {
				break
			}
		}
		p.kill()
	}
	if !killed {
		t.Fatal("the rebuild could not be caught mid-way in five attempts")
	}
	if out, _, err := runArgs(t, env, "project"); err != nil {
		t.Fatalf("project after the kill: %v\n%s", err, out)
	}
	// The reference: the same record rebuilt in a directory of its own.
	ref := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ref, "events.db"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": ref}, "project"); err != nil {
		t.Fatal(err)
	}
	got, want := dumpReadModels(t, dir), dumpReadModels(t, ref)
	if got != want {
		t.Fatalf("after a kill mid-rebuild the read model differs from a rebuild from zero (%d vs %d bytes)", len(got), len(want))
	}
	if n := checkpointApplied(t, dir); n != total {
		t.Fatalf("checkpoint says %d events applied, the record holds %d", n, total)
	}
}

func checkpointApplied(t *testing.T, dir string) int64 {
	return countIn(t, filepath.Join(dir, "readmodels.db"), `SELECT applied FROM checkpoints WHERE projection = 'case_files'`)
}

// countIn answers a query of one number on a SQLite file, read-only
// (beside a running serve), 0 when it has no answer yet.
func countIn(t *testing.T, path, query string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	_ = db.QueryRow(query).Scan(&n)
	return n
}

// dumpReadModels prints every row of the case-files tables in a fixed
// order (the checkpoints table aside: it holds a time).
func dumpReadModels(t *testing.T, dir string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "readmodels.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	for _, table := range []string{"cases", "timeline", "worklist", "referrals", "contacts_due", "parties", "risk_changes", "case_items"} {
		rows, err := db.Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprint(vals...))
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&b, "== %s %d\n%s\n", table, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// accessRecords counts the events and streams of the access log in the
// embedded record (the records of data keys made among them), which a
// count of case events leaves out.
func accessRecords(t *testing.T, dataDir string) (events, streams int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "events.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT stream) FROM events WHERE stream LIKE 'access-%'`).Scan(&events, &streams); err != nil {
		t.Fatal(err)
	}
	return events, streams
}
