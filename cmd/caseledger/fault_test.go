package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The fault suite plays an operator's bad day against a running serve: a
// data directory's disk that fills, a data directory made unwritable, an
// external NATS whose store fills, and serve killed over and over. Each
// runs `caseledger emit --demo` under load through the fault and checks
// that /readyz names the fault within 5 s, that an emitter is answered
// store_unavailable, that everything resumes without a restart once the
// fault is gone, and that the counts match: every generated command
// acknowledged, every generated event stored once with intact chains,
// relayed once and projected, INTAKE empty.

// faultRun is one serve under a fault, with the emitters sending to it.
type faultRun struct {
	t                          *testing.T
	bin, dataDir, keysDir, url string
	ready                      string // the /readyz URL
	serve                      *proc
	emit                       *proc
	cases                      []gen.Case // what emit sends
	probe                      *probeEmitter
	anonymous                  bool            // external NATS without identities
	earlier                    strings.Builder // the logs of serve instances killed before this one
}

const faultCases, faultSeed = 250, 16

// startFault starts serve (args after its data directory) and emit.
func startFault(t *testing.T, bin, dataDir, keysDir string, serveArgs []string, asUser *syscall.Credential) *faultRun {
	t.Helper()
	metrics := "127.0.0.1:" + strconv.Itoa(freePort(t))
	r := &faultRun{t: t, bin: bin, dataDir: dataDir, keysDir: keysDir, ready: "http://" + metrics + "/readyz"}
	args := append([]string{"serve", "--data-dir", dataDir, "--keys-dir", keysDir, "--metrics-listen", metrics, "--http-listen", "127.0.0.1:" + strconv.Itoa(freePort(t))}, serveArgs...)
	r.url = "nats://" + flagValue(args, "--nats-listen")
	if u := flagValue(args, "--nats-url"); u != "" {
		r.url, r.anonymous = u, true
	}
	r.serve = &proc{cmd: exec.Command(bin, args...), out: &syncBuffer{}}
	r.serve.cmd.Stdout, r.serve.cmd.Stderr = r.serve.out, r.serve.out
	if asUser != nil {
		r.serve.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: asUser}
	}
	if err := r.serve.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.serve.kill)
	within(t, 30*time.Second, func() bool { return strings.Contains(r.serve.out.String(), "caseledger serving") })
	var err error
	if r.cases, err = gen.New(faultSeed).Cases(faultCases); err != nil {
		t.Fatal(err)
	}
	r.emit = start(t, bin, "emit", "--nats-url", r.url, "--keys-dir", keysDir, "--demo", strconv.Itoa(faultCases), "--seed", strconv.Itoa(faultSeed), "--timeout", "3m")
	// Under load before the fault.
	for deadline := time.Now().Add(time.Minute); r.relayed() < 500; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no load within a minute:\n%s\nserve:\n%s", r.emit.out.String(), tail(r.serve.out.String()))
		}
	}
	return r
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// relayed reads how many events the relay has published, as a sign of
// load: the ops identity sees stream sizes, no payload.
func (r *faultRun) relayed() uint64 {
	nc := r.connect("ops")
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var n uint64
	for _, c := range natsbus.EventCompartments {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if st, err := js.Stream(ctx, natsbus.EventStream(c)); err == nil {
			if info, err := st.Info(ctx); err == nil {
				n += info.State.Msgs
			}
		}
		cancel()
	}
	return n
}

func (r *faultRun) connect(role string) *nats.Conn {
	var opts []nats.Option
	if !r.anonymous {
		co, err := natsbus.ClientOptions(filepath.Join(r.keysDir, natsbus.AuthorityDir, role+".creds"), "")
		if err != nil {
			r.t.Fatal(err)
		}
		opts = co
	}
	nc, err := natsbus.Connect(r.url, "fault-test-"+role, opts...)
	if err != nil {
		r.t.Fatalf("connect as %s: %v", role, err)
	}
	return nc
}

// readyz answers /readyz's status and body.
func (r *faultRun) readyz() (int, string) {
	c := http.Client{Timeout: 4 * time.Second}
	resp, err := c.Get(r.ready)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// faulted waits up to 5 s for /readyz to answer 503 naming cause.
func (r *faultRun) faulted(cause string) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := r.readyz()
		if code == http.StatusServiceUnavailable && strings.Contains(body, cause) {
			r.t.Logf("/readyz under the fault: %s", body)
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("/readyz did not name %q within 5 s of the fault: %d %s", cause, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probeEmitter is an emitter sending cases of its own through the fault,
// noting why it had to try again. It sends one case after another until
// it has been told store_unavailable (a store that is full only in turns,
// as a NATS store whose INTAKE is being drained, lets some commands
// through), then finishes the case in hand and stops.
type probeEmitter struct {
	mu     sync.Mutex
	causes []error
	told   bool
	sent   int // cases sent whole
	done   chan error
	cases  []gen.Case
}

func (p *probeEmitter) retried(cause error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.causes = append(p.causes, cause)
	p.told = p.told || errors.Is(cause, intake.ErrStoreUnavailable)
}

// sent returns the cases the probe sent whole.
func (p *probeEmitter) sentCases() []gen.Case {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cases[:p.sent]
}

// sendProbe starts the probe emitter: at most n cases of its own seed.
func (r *faultRun) sendProbe(n int) {
	r.t.Helper()
	p := &probeEmitter{done: make(chan error, 1)}
	var err error
	if p.cases, err = gen.New(faultSeed + 1000).Cases(n); err != nil {
		r.t.Fatal(err)
	}
	nc := r.connect(natsbus.RoleEmitter)
	r.t.Cleanup(nc.Close)
	client, err := intake.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	client = client.WithSigner(localSigner(r.t, r.keysDir))
	client.Resend = time.Second
	client.OnRetry = p.retried
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, c := range p.cases {
			for _, step := range c.Steps {
				if _, err := client.Send(ctx, step.Command); err != nil {
					p.done <- err
					return
				}
			}
			p.mu.Lock()
			p.sent++
			told := p.told
			p.mu.Unlock()
			if told {
				break
			}
		}
		p.done <- nil
	}()
	r.probe = p
}

// answeredUnavailable waits until the probe emitter was told
// store_unavailable.
func (r *faultRun) answeredUnavailable() {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.probe.mu.Lock()
		causes := append([]error(nil), r.probe.causes...)
		r.probe.mu.Unlock()
		for _, c := range causes {
			if errors.Is(c, intake.ErrStoreUnavailable) {
				r.t.Logf("the emitter was told: %v", c)
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the emitter was not told store_unavailable within 30 s; its retries: %v", causes)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var emitSummary = regexp.MustCompile(`emitted (\d+) of (\d+) cases: (\d+) commands acknowledged \((\d+) accepted with (\d+) events, (\d+) already recorded\), (\d+) refused, (\d+) unknown`)

// recovered waits for /readyz to answer 200 again, emit and the probe to
// finish by themselves, and checks the counts.
func (r *faultRun) recovered() {
	t := r.t
	t.Helper()
	within(t, 90*time.Second, func() bool { code, _ := r.readyz(); return code == http.StatusOK })
	if err := waitProc(r.emit, 3*time.Minute); err != nil {
		t.Fatalf("emit did not finish cleanly after the fault: %v\n%s\nserve's log, with its faults and recoveries:\n%s\nits end:\n%s",
			err, r.emit.out.String(), faultLines(r.serve.out.String()), tail(r.serve.out.String()))
	}
	select {
	case err := <-r.probe.done:
		if err != nil {
			t.Fatalf("the probe emitter: %v", err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("the probe emitter did not finish")
	}
	m := emitSummary.FindStringSubmatch(r.emit.out.String())
	commands, events := 0, 0
	for _, c := range r.cases {
		commands += len(c.Steps)
		events += len(c.Events())
	}
	if m == nil || m[1] != m[2] || m[3] != strconv.Itoa(commands) || m[7] != "0" || m[8] != "0" {
		t.Fatalf("emit's summary, want %d commands acknowledged, none refused or unknown:\n%s", commands, r.emit.out.String())
	}
	probeCases := r.probe.sentCases()
	for _, c := range probeCases {
		events += len(c.Events())
	}
	nc := r.connect("ops")
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(2 * time.Minute)
	// The read models apply every record (the ledger's checkpoints
	// included, which they step over).
	for streamMsgs(t, js, natsbus.IntakeStream) != 0 || eventMsgs(t, js) != uint64(events) || checkpointApplied(t, r.dataDir) != records(t, r.dataDir) {
		if time.Now().After(deadline) {
			t.Fatalf("not drained in 2 minutes: INTAKE %d, relayed %d of %d events, projected %d; serve:\n%s\nfaults of every serve:\n%s",
				streamMsgs(t, js, natsbus.IntakeStream), eventMsgs(t, js), events, checkpointApplied(t, r.dataDir), tail(r.serve.out.String()),
				faultLines(r.earlier.String()+r.serve.out.String()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := streamMsgs(t, js, natsbus.RejectedStream); n != 0 {
		t.Fatalf("%d commands rejected", n)
	}
	r.namedOnce()
	r.serve.stop(t)
	out, err := exec.Command(r.bin, "verify", "--data-dir", r.dataDir, "--keys-dir", r.keysDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "every chain holds") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(r.dataDir, "events.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored, streams int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT stream) FROM events WHERE stream LIKE 'case-%'`).Scan(&stored, &streams); err != nil {
		t.Fatal(err)
	}
	if stored != events || streams != len(r.cases)+len(probeCases) {
		t.Fatalf("%d case events stored in %d cases, want %d in %d", stored, streams, events, len(r.cases)+len(probeCases))
	}

	t.Logf("%d commands acknowledged = %d events stored = relayed = projected; INTAKE empty; chains verify", commands, events)
}

// records counts the records in the store, read while serve runs.
func records(t *testing.T, dataDir string) int64 {
	return countIn(t, filepath.Join(dataDir, "events.db"), `SELECT count(*) FROM events`)
}

// namedOnce checks that each fault serve logged was logged once at ERROR
// when it began and once at INFO when it ended, however many writes failed
// meanwhile (one fault played per test).
func (r *faultRun) namedOnce() {
	r.t.Helper()
	log := r.serve.out.String()
	for _, what := range []string{"writes to the data directory", "ingest's appends to the record", "NATS JetStream's writes", "the relay's publishes to the event streams", "projection case_files's writes to its read model", "the ledger's checkpoints"} {
		began := strings.Count(log, `"level":"ERROR","msg":"`+what+` fail`)
		ended := strings.Count(log, `"level":"INFO","msg":"`+what+` succeed again"`)
		if began > 1 || began != ended {
			r.t.Errorf("%q: logged failing %d times and recovered %d times, want at most once each, paired", what, began, ended)
		}
	}
}

// faultLines keeps the lines of serve's log that name a fault, a
// recovery, a restart or an error: what a hang is read from.
func faultLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, "succeed again") || strings.Contains(l, "restart") || strings.Contains(l, `"component":"nats"`) {
			out = append(out, l)
		}
	}
	return tail(strings.Join(out, "\n"))
}

func tail(s string) string { return s[max(0, len(s)-4000):] }

// mountTmpfs mounts a small tmpfs at dir, or skips the test saying why.
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("a full disk needs a small tmpfs, and mount was refused (run as root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
}

// fill writes a file on dir's filesystem until it is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

// TestDiskFullUnderLoad fills the data directory's filesystem (the record,
// the read models and the embedded NATS store) while emit runs.
func TestDiskFullUnderLoad(t *testing.T) {
	bin, _ := binaries(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mountTmpfs(t, data, "160m")
	r := startFault(t, bin, data, filepath.Join(dir, "keys"), []string{"--nats-listen", "127.0.0.1:" + strconv.Itoa(freePort(t))}, nil)
	filler := filepath.Join(data, "filler")
	fill(t, filler)
	r.faulted("no space left on device")
	r.sendProbe(40)
	r.answeredUnavailable()
	time.Sleep(3 * time.Second)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r.recovered()
	for _, want := range []string{"writes to the data directory fail", "writes to the data directory succeed again", "NATS JetStream's writes succeed again"} {
		if !strings.Contains(r.serve.out.String(), want) {
			t.Errorf("serve's log does not say %q", want)
		}
	}
}

// TestDataDirUnwritable runs serve as an unprivileged user and takes the
// write permission of its data directory away while emit runs.
func TestDataDirUnwritable(t *testing.T) {
	bin, _ := binaries(t)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	if os.Geteuid() != 0 {
		t.Skip("serve runs as an unprivileged user (nobody) and the test changes its files' owner: run as root")
	}
	// Everything the unprivileged serve touches is its own, and the
	// binary can be run by it.
	dir, err := os.MkdirTemp("", "caseledger-unwritable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{dir, filepath.Dir(bin)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, keys := filepath.Join(dir, "data"), filepath.Join(dir, "keys")
	for _, d := range []string{data, keys} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Skipf("cannot give the data directory to nobody: %v", err)
		}
	}
	r := startFault(t, bin, data, keys, []string{"--nats-listen", "127.0.0.1:" + strconv.Itoa(freePort(t))}, nobody)
	dirs := setWritable(t, data, false)
	r.faulted("permission denied")
	r.sendProbe(40)
	r.answeredUnavailable()
	time.Sleep(3 * time.Second)
	// Given back top-down, as chmod -R does, with a pause once the NATS
	// store's own directory is writable and its streams' are not: a
	// JetStream restarted then loads only some streams, and must try again.
	for _, d := range dirs {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if d == filepath.Join(data, "nats") {
			time.Sleep(3 * time.Second)
		}
	}
	r.recovered()
}

// setWritable takes away (or gives back) the write permission of every
// directory under root, returning them.
func setWritable(t *testing.T, root string, w bool) []string {
	t.Helper()
	mode := os.FileMode(0o555)
	if w {
		mode = 0o755
	}
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dirs
}

// TestExternalNATSStoreFull fills an external nats-server's JetStream
// store (its max_file_store) while emit runs; the operator raises the
// limit and reloads the server, and caseledger resumes by itself.
func TestExternalNATSStoreFull(t *testing.T) {
	bin, natsBin := binaries(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "nats.conf")
	write := func(limit string) {
		c := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q, max_file_store: %s }\n", port, filepath.Join(dir, "js"), limit)
		if err := os.WriteFile(conf, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("6MB")
	ns := start(t, natsBin, "-c", conf)
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	within(t, 20*time.Second, func() bool {
		nc, err := nats.Connect(url)
		if err == nil {
			nc.Close()
		}
		return err == nil
	})
	data := filepath.Join(dir, "data")
	r := startFault(t, bin, data, filepath.Join(dir, "keys"), []string{"--nats-url", url}, nil)
	// The relay's streams grow until the store's limit: no further
	// message is stored, commands included.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if code, body := r.readyz(); code == http.StatusServiceUnavailable && strings.Contains(body, "insufficient resources") {
			t.Logf("/readyz with the NATS store full: %s", body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the NATS store did not fill within 2 minutes (emit: %s)", r.emit.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.sendProbe(40)
	r.answeredUnavailable()
	write("1GB")
	if err := ns.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r.recovered()
}

// TestServeKilledWhileEmitting kills serve with SIGKILL every few seconds
// while `emit --demo` runs: emit rides through every restart and
// finishes by itself, and every case is recorded exactly once.
func TestServeKilledWhileEmitting(t *testing.T) {
	bin, _ := binaries(t)
	dir := t.TempDir()
	data, keys := filepath.Join(dir, "data"), filepath.Join(dir, "keys")
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"--nats-listen", listen}
	r := startFault(t, bin, data, keys, args, nil)
	r.sendProbe(1)
	kills := 0
	for ; kills < 6 && r.emit.cmd.ProcessState == nil; kills++ {
		time.Sleep(3 * time.Second)
		r.serve.kill()
		r.earlier.WriteString(r.serve.out.String())
		r.serve = start(t, bin, append([]string{"serve", "--data-dir", data, "--keys-dir", keys, "--metrics-listen", strings.TrimPrefix(strings.TrimSuffix(r.ready, "/readyz"), "http://"),
			"--http-listen", "127.0.0.1:" + strconv.Itoa(freePort(t))}, args...)...)
		within(t, 30*time.Second, func() bool { return strings.Contains(r.serve.out.String(), "caseledger serving") })
	}
	if kills < 3 {
		t.Fatalf("emit finished after %d kills: too little load to test", kills)
	}
	t.Logf("serve killed %d times", kills)
	r.recovered()
}
