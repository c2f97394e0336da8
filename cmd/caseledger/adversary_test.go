package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/caseledger/caseledger/services/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// natsCLI is the stock nats CLI scripts/test.sh installs (pinned), or one
// on PATH.
func natsCLI(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CASELEDGER_NATS_CLI"); p != "" {
		return p
	}
	if p, err := exec.LookPath("nats"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the nats CLI is not installed; scripts/test.sh installs it")
	}
	t.Skip("the nats CLI is not installed (scripts/test.sh installs it)")
	return ""
}

// TestAdversariesWithTheNATSCLI plays THREATS.md's adversaries with the
// stock nats CLI against serve's embedded default while a load holding
// sealed and social-work entries runs: an anonymous client, an emitter's
// creds, a police reader's creds, expired, foreign and revoked creds, and
// unsigned, wrongly signed, misaddressed and wrong-role commands. Nothing
// is let in, no police reader sees a social-work or sealed payload byte by
// any path, nothing refused is recorded, and serve keeps running.
func TestAdversariesWithTheNATSCLI(t *testing.T) {
	cli := natsCLI(t)
	root := t.TempDir()
	t.Setenv("HOME", root) // no nats CLI context or config of the machine's
	bin, _ := binaries(t)
	data, keys := filepath.Join(root, "data"), filepath.Join(root, "keys")
	port, metricsPort := freePort(t), freePort(t)
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	serve := start(t, bin, "serve", "--data-dir", data, "--keys-dir", keys, "--nats-listen", "127.0.0.1:"+strconv.Itoa(port),
		"--metrics-listen", "127.0.0.1:"+strconv.Itoa(metricsPort))
	within(t, 30*time.Second, func() bool { return strings.Contains(serve.out.String(), "caseledger serving") })

	// The load, and what in it a police reader must never see.
	const seed, n = 41, 40
	cases, err := gen.New(seed).Cases(n)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string // ids of social-work and sealed entries, and the sealed note's words
	count := map[domain.Compartment]int{}
	total := 0
	for _, c := range cases {
		for _, e := range c.Events() {
			count[e.Meta.Compartment]++
			total++
			if e.Meta.Compartment == domain.CompartmentSocialWork {
				secrets = append(secrets, e.ID.String())
			}
		}
	}
	if count[domain.CompartmentSealed] == 0 || count[domain.CompartmentSocialWork] == 0 {
		t.Fatalf("the load holds no sealed or no social-work entry (%v): the checks below would be vacuous", count)
	}
	secrets = append(secrets, "confidential informant")
	credsOf := func(role string) string { return filepath.Join(keys, natsbus.AuthorityDir, role+".creds") }
	// nats runs the CLI as the holder of a creds file ("" for none), with
	// the inbox prefix its identity is allowed, for at most 6 seconds (a refused subscription waits that long).
	nats := func(creds string, args ...string) (string, error) {
		t.Helper()
		base := []string{"--no-context", "-s", url, "--timeout", "3s"}
		if creds != "" {
			name := strings.TrimSuffix(filepath.Base(creds), ".creds")
			base = append(base, "--creds", creds, "--inbox-prefix", natsbus.InboxPrefix(name))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, append(base, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	refused := func(what, out string, err error) {
		t.Helper()
		if err == nil && !strings.Contains(out, "Permissions Violation") && !strings.Contains(out, "Authorization Violation") {
			t.Errorf("%s was not refused:\n%s", what, out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s printed a social-work or sealed value (%s)", what, s)
			}
		}
	}

	// A: anonymous, foreign, expired.
	out, err := nats("", "stream", "ls")
	refused("an anonymous client listing streams", out, err)
	if !strings.Contains(out, "Authorization Violation") {
		t.Errorf("an anonymous client: %s", out)
	}
	foreign := filepath.Join(root, "foreign")
	if o, err := exec.Command(bin, "creds", "list", "--keys-dir", foreign).CombinedOutput(); err != nil {
		t.Fatalf("creds list: %v\n%s", err, o)
	}
	out, err = nats(filepath.Join(foreign, natsbus.AuthorityDir, "reader-police.creds"), "stream", "info", natsbus.EventStream(domain.CompartmentPolice))
	refused("creds of another authority", out, err)
	short, err := exec.Command(bin, "creds", "issue", natsbus.RoleReaderPolice, "short-lived", "--expires", "1s", "--keys-dir", keys).Output()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	out, err = nats(strings.TrimSpace(string(short)), "stream", "info", natsbus.EventStream(domain.CompartmentPolice))
	refused("expired creds", out, err)

	// B: the emitter's creds read nothing.
	// The police reader follows its compartments live, from before the
	// load starts: every message it is given is dumped to a file.
	police := credsOf(natsbus.RoleReaderPolice)
	dumps := map[domain.Compartment]string{}
	var subs []*proc
	for _, comp := range []domain.Compartment{domain.CompartmentPolice, domain.CompartmentShared, domain.CompartmentSealed} {
		dumps[comp] = filepath.Join(root, "dump-"+string(comp))
		name := strings.TrimSuffix(filepath.Base(police), ".creds")
		p := start(t, cli, "--no-context", "-s", url, "--creds", police, "--inbox-prefix", natsbus.InboxPrefix(name),
			"sub", natsbus.EventsPrefix+string(comp)+".>", "--count", strconv.Itoa(count[comp]), "--dump", dumps[comp])
		subs = append(subs, p)
	}
	time.Sleep(2 * time.Second) // the subscriptions are in place
	emit := start(t, bin, "emit", "--demo", strconv.Itoa(n), "--seed", strconv.Itoa(seed), "--nats-url", url, "--keys-dir", keys, "--concurrency", "4")

	ops := connectAs(t, url, keys, natsbus.RoleOps)
	opsJS, _ := jetstream.New(ops)
	within(t, time.Minute, func() bool {
		return streamMsgs(t, opsJS, natsbus.EventStream(domain.CompartmentSocialWork)) > 0 && streamMsgs(t, opsJS, natsbus.EventStream(domain.CompartmentSealed)) > 0
	})

	emitter := credsOf(natsbus.RoleEmitter)
	out, err = nats(emitter, "sub", natsbus.EventsPrefix+">", "--count", "1")
	refused("the emitter subscribing to events", out, err)
	out, err = nats(emitter, "stream", "get", natsbus.EventStream(domain.CompartmentPolice), "1")
	refused("the emitter getting an event", out, err)
	out, err = nats(emitter, "sub", "_INBOX.>", "--count", "1")
	refused("the emitter subscribing to every inbox", out, err)

	// C: the police reader, by every path to the social-work and sealed
	// payloads.
	sw := natsbus.EventStream(domain.CompartmentSocialWork)
	for what, args := range map[string][]string{
		"stream get":                    {"stream", "get", sw, "1"},
		"stream info":                   {"stream", "info", sw},
		"direct get":                    {"req", "$JS.API.DIRECT.GET." + sw, `{"seq":1}`},
		"message get request":           {"req", "$JS.API.STREAM.MSG.GET." + sw, `{"seq":1}`},
		"consumer on the stream":        {"consumer", "add", sw, "spy", "--pull", "--defaults"},
		"consumer named after its own":  {"consumer", "add", sw, natsbus.EventStream(domain.CompartmentPolice), "--pull", "--defaults"},
		"core subscribe to social work": {"sub", natsbus.EventsPrefix + "social_work.>", "--count", "1"},
		"core subscribe to everything":  {"sub", ">", "--count", "1"},
		"subscribe to every inbox":      {"sub", "_INBOX.>", "--count", "1"},
		"stream list":                   {"stream", "ls"},
		"stream get of its own stream":  {"stream", "get", natsbus.EventStream(domain.CompartmentPolice), "1"},
		"stream info with a subject filter": {"pub", "$JS.API.STREAM.INFO." + natsbus.EventStream(domain.CompartmentPolice), `{"subjects_filter":">"}`,
			"--reply", natsbus.EventsPrefix + "shared.x.y"},
		"a get answered onto the shared subjects": {"pub", "$JS.API.STREAM.MSG.GET." + natsbus.EventStream(domain.CompartmentPolice), `{"seq":1}`,
			"--reply", natsbus.EventsPrefix + "shared.x.y"},
	} {
		out, err := nats(police, args...)
		refused("the police reader's "+what, out, err)
	}
	// It makes no consumer, not even on its own streams: a push consumer
	// delivers wherever its creator says, into any stream that captures
	// that subject (copying police events into the shared stream, or
	// social-work ones into the checkpoints).
	for what, args := range map[string][]string{
		"push consumer into the shared stream": {"consumer", "add", natsbus.EventStream(domain.CompartmentPolice), "copy", "--target", natsbus.EventsPrefix + "shared.x.y",
			"--deliver", "all", "--ack", "none", "--replay", "instant", "--filter", "", "--defaults"},
		"pull consumer of its own": {"consumer", "add", natsbus.EventStream(domain.CompartmentPolice), "mine", "--pull", "--defaults"},
	} {
		out, err := nats(police, args...)
		refused("the police reader's "+what, out, err)
	}
	// What the police reader was given live: its compartments, whole.
	if emitErr := waitProc(emit, 3*time.Minute); emitErr != nil {
		t.Fatalf("emit: %v\n%s", emitErr, emit.out.String())
	}
	within(t, time.Minute, func() bool { return eventMsgs(t, opsJS) == uint64(total) })
	for i, comp := range []domain.Compartment{domain.CompartmentPolice, domain.CompartmentShared, domain.CompartmentSealed} {
		st := natsbus.EventStream(comp)
		want := int(streamMsgs(t, opsJS, st))
		if want != count[comp] {
			t.Fatalf("%s holds %d messages, the load %d %s entries", st, want, count[comp], comp)
		}
		if err := waitProc(subs[i], time.Minute); err != nil {
			t.Fatalf("the police reader's live subscription to %s: %v\n%s", comp, err, subs[i].out.String())
		}
		files, _ := filepath.Glob(filepath.Join(dumps[comp], "*"))
		if len(files) != want || want == 0 {
			t.Fatalf("%s: %d messages received live, %d in the stream", st, len(files), want)
		}
		for _, f := range files {
			raw, _ := os.ReadFile(f)
			// natscli dumps a message as JSON, its data in base64.
			var dumped struct {
				Subject string
				Data    []byte
			}
			if err := json.Unmarshal(raw, &dumped); err != nil {
				t.Fatalf("%s: dump %s: %v", st, filepath.Base(f), err)
			}
			for _, s := range secrets {
				if strings.Contains(string(raw), s) || strings.Contains(string(dumped.Data), s) {
					t.Fatalf("%s: the police reader was given a social-work or sealed value (%s) on %s", st, s, dumped.Subject)
				}
			}
			var m relay.Message
			if err := json.Unmarshal(dumped.Data, &m); err != nil || m.ID == "" {
				t.Fatalf("%s: a message is not a relayed event: %v\n%.300s", st, err, raw)
			}
			if m.Compartment != string(comp) || (comp == domain.CompartmentSealed && (m.Data != nil || m.Metadata != nil)) {
				t.Fatalf("%s: message %s of compartment %q, data %d bytes", st, m.ID, m.Compartment, len(m.Data))
			}
		}
	}
	before := eventMsgs(t, opsJS)
	rejectedStart := streamMsgs(t, opsJS, natsbus.RejectedStream)
	// Ingest answers on inboxes only: a reply address aimed at an event
	// stream writes nothing there.
	for _, target := range []string{natsbus.EventsPrefix + "sealed.x.y", natsbus.CheckpointsSubject} {
		if out, err := nats(emitter, "pub", natsbus.IntakeSubject("add_note"), `{"x":1}`, "-H", "Caseledger-Reply-To:"+target); err != nil {
			t.Fatalf("publish: %v\n%s", err, out)
		}
	}
	within(t, 30*time.Second, func() bool { return streamMsgs(t, opsJS, natsbus.RejectedStream) == rejectedStart+2 })

	// Commands: unsigned, wrongly signed, misaddressed, from the wrong role.
	rejectedBefore := streamMsgs(t, opsJS, natsbus.RejectedStream)
	c0 := cases[0]
	note := domain.AddNote{CommandHeader: c0.Steps[0].Command.Head(), NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c0.ID, 9001), Text: "forged"}}
	note.CommandID = domain.EventID(c0.ID, 9002)
	note.OccurredAt = c0.Steps[len(c0.Steps)-1].Now.Add(time.Hour)
	_, body, _ := domain.EncodeCommand(note)
	for what, args := range map[string][]string{
		"unsigned":            {"req", natsbus.IntakeSubject("add_note"), string(body)},
		"wrongly signed":      {"req", natsbus.IntakeSubject("add_note"), string(body), "-H", "Caseledger-Emitter:local", "-H", "Caseledger-Signature:AAAA"},
		"extra subject token": {"req", natsbus.IntakeSubject("add_note") + ".extra", string(body)},
	} {
		if out, err := nats(emitter, args...); err != nil {
			t.Errorf("%s command: the publish itself failed (INTAKE must keep it to reject it): %v\n%s", what, err, out)
		}
	}
	out, err = nats(police, "pub", natsbus.IntakeSubject("add_note"), string(body))
	refused("a reader sending a command", out, err)
	within(t, 30*time.Second, func() bool { return streamMsgs(t, opsJS, natsbus.RejectedStream) == rejectedBefore+3 })
	if after := eventMsgs(t, opsJS); after != before {
		t.Errorf("the event streams went from %d to %d messages with no command recorded", before, after)
	}
	metrics := func() string {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := metrics()
	for code, least := range map[string]int{"unauthenticated": 2, "bad_subject": 1} {
		got := regexp.MustCompile(`caseledger_ingest_rejected_total\{code="` + code + `"\} (\d+)`).FindStringSubmatch(m)
		if v, _ := strconv.Atoi(valueOr(got, "0")); v < least {
			t.Errorf("rejected %s: %v, want at least %d", code, got, least)
		}
	}

	// Revocation: an identity issued while serve runs works, then is
	// dropped by the running serve once revoked.
	spareOut, err := exec.Command(bin, "creds", "issue", natsbus.RoleOps, "spare-ops", "--keys-dir", keys).Output()
	if err != nil {
		t.Fatal(err)
	}
	spare := strings.TrimSpace(string(spareOut))
	if out, err := nats(spare, "stream", "info", natsbus.EventStream(domain.CompartmentShared)); err != nil {
		t.Fatalf("a new ops identity before revocation: %v\n%s", err, out)
	}
	if o, err := exec.Command(bin, "creds", "revoke", spare, "--keys-dir", keys).CombinedOutput(); err != nil {
		t.Fatalf("creds revoke: %v\n%s", err, o)
	}
	within(t, 15*time.Second, func() bool {
		out, err := nats(spare, "stream", "info", natsbus.EventStream(domain.CompartmentShared))
		return err != nil && strings.Contains(out, "Authorization Violation")
	})

	// Nothing refused was recorded, and serve kept running.
	if serve.cmd.ProcessState != nil {
		t.Fatalf("serve stopped:\n%s", serve.out.String())
	}
	serve.stop(t)
	out2, err := exec.Command(bin, "verify", "--data-dir", data, "--keys-dir", keys).CombinedOutput()
	if err != nil || !strings.Contains(string(out2), "every chain holds") {
		t.Fatalf("verify: %v\n%s", err, out2)
	}
	store, err := openReader(context.Background(), storeConfig{DataDir: data, KeysDir: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, c := range cases {
		recs, err := store.ReadStream(context.Background(), "case-"+c.ID.String(), 0, 10_000)
		if err != nil || len(recs) != len(c.Events()) {
			t.Fatalf("case %s holds %d events, %d generated: %v", c.ID, len(recs), len(c.Events()), err)
		}
	}
}

func valueOr(m []string, def string) string {
	if len(m) > 1 {
		return m[1]
	}
	return def
}

// waitProc waits for a child process to exit.
func waitProc(p *proc, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("still running after %s", d)
	}
}
