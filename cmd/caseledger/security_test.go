package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/internal/testcert"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestServeWithNATSSecurity: serve's embedded server with TLS takes
// commands from an emitter holding the creds serve wrote and trusting the
// CA, and refuses the same emitter without them; misconfigurations are
// listed at start, one message each, before anything starts.
func TestServeWithNATSSecurity(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := testcert.Write(t, dir)
	port := strconv.Itoa(freePort(t))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out syncBuffer
	done := make(chan error, 1)
	keys := filepath.Join(dir, "keys")
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--keys-dir", keys, "--nats-listen", "127.0.0.1:" + port,
			"--nats-tls-cert", cert, "--nats-tls-key", key}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "caseledger serving") })
	env := map[string]string{"CASELEDGER_NATS_URL": "tls://127.0.0.1:" + port, "CASELEDGER_KEYS_DIR": keys}
	got, _, err := runArgs(t, env, "emit", "--demo", "2", "--nats-ca", ca)
	if err != nil || !strings.Contains(got, "emitted 2 of 2 cases") {
		t.Fatalf("emit with the emitter's creds: %v\n%s", err, got)
	}
	if _, _, err := runArgs(t, map[string]string{"CASELEDGER_NATS_URL": env["CASELEDGER_NATS_URL"], "CASELEDGER_KEYS_DIR": t.TempDir()},
		"emit", "--demo", "1", "--nats-ca", ca, "--timeout", "2s"); err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("an emitter without creds: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, out.String())
	}

	_, _, err = runArgs(t, nil, "serve", "--data-dir", t.TempDir(), "--nats-tls-cert", filepath.Join(dir, "missing.pem"),
		"--nats-creds", filepath.Join(dir, "none.creds"))
	if !errors.Is(err, errUsage) {
		t.Fatalf("misconfigured serve: %v", err)
	}
	for _, want := range []string{"--nats-tls-cert and --nats-tls-key go together", "--nats-tls-cert: " + filepath.Join(dir, "missing.pem") + " cannot be read",
		"--nats-creds: " + filepath.Join(dir, "none.creds") + " cannot be read", "--nats-creds and --nats-ca are for an external NATS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
}

// externalNATS starts a nats-server process with the configuration natsconf
// prints for a keys directory, and returns its URL.
func externalNATS(t *testing.T, keys string) string {
	t.Helper()
	_, natsBin := binaries(t)
	conf, _, err := runArgs(t, nil, "natsconf", "--keys-dir", keys)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := freePort(t)
	path := filepath.Join(dir, "nats.conf")
	os.WriteFile(path, []byte(fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q }\n%s", port, filepath.Join(dir, "js"), conf)), 0o600)
	start(t, natsBin, "-c", path)
	within(t, 20*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return fmt.Sprintf("nats://127.0.0.1:%d", port)
}

// TestNATSConfForTheCluster: a real nats-server configured by natsconf
// trusts the keys directory's identities with the same subjects as the
// embedded server: an ingest and a relay process run on it with their
// default creds, the emitter sends cases, they are relayed, a police reader
// is refused the social-work stream, and anonymous clients are refused.
func TestNATSConfForTheCluster(t *testing.T) {
	root := t.TempDir()
	keys, data := filepath.Join(root, "keys"), filepath.Join(root, "data")
	url := externalNATS(t, keys)
	if c, err := nats.Connect(url); err == nil {
		c.Close()
		t.Fatal("an anonymous client connected to the configured server")
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var outs [2]syncBuffer
	done := make(chan error, 2)
	for i, role := range []string{"ingest", "relay"} {
		go func() {
			done <- run(ctx, []string{"serve", "--data-dir", data, "--keys-dir", keys, "--nats-url", url, "--role", role},
				func(string) string { return "" }, strings.NewReader(""), &outs[i], &outs[i])
		}()
		within(t, 20*time.Second, func() bool {
			return strings.Contains(outs[i].String(), "caseledger serving") || strings.Contains(outs[i].String(), "ERROR")
		})
	}
	if got, _, err := runArgs(t, map[string]string{"CASELEDGER_NATS_URL": url, "CASELEDGER_KEYS_DIR": keys}, "emit", "--demo", "2", "--seed", "31"); err != nil {
		t.Fatalf("emit: %v\n%s\ningest:\n%s", err, got, outs[0].String())
	}
	opsJS, _ := jetstream.New(connectAs(t, url, keys, natsbus.RoleOps))
	within(t, 20*time.Second, func() bool { return streamMsgs(t, opsJS, natsbus.EventStream(domain.CompartmentPolice)) > 0 })
	js, _ := jetstream.New(connectAs(t, url, keys, natsbus.RoleReaderPolice))
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(tctx, natsbus.EventStream(domain.CompartmentSocialWork), jetstream.ConsumerConfig{}); err == nil {
		t.Error("the police reader read the social-work stream on the cluster")
	}
	stop()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// TestMisconfiguredDeploymentStopsAtStart: an unreachable read-model
// database or record, or NATS credentials the server refuses, stop serve
// before any role starts, with a message naming the problem.
func TestMisconfiguredDeploymentStopsAtStart(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unreachable PostgreSQL", []string{"--role", "ingest,api", "--readmodel-url", "postgres://caseledger:x@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, "the read models (--readmodel-url) cannot be reached"},
		{"unreachable KurrentDB", []string{"--role", "relay", "--eventstore-url", "kurrentdb://127.0.0.1:1?tls=false"}, "kurrent: connect"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			port := strconv.Itoa(freePort(t))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out syncBuffer
			err := run(ctx, append([]string{"serve", "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:" + port}, tc.args...),
				func(string) string { return "" }, strings.NewReader(""), &out, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q\n%s", err, tc.want, out.String())
			}
			if strings.Contains(out.String(), "caseledger serving") {
				t.Error("serve said it was serving before failing")
			}
		})
	}
	// NATS refusing the identity: an external nats-server configured by
	// natsconf, and creds of another authority, or of another role.
	keys := t.TempDir()
	url := externalNATS(t, keys)
	foreign := t.TempDir()
	if _, _, err := runArgs(t, nil, "creds", "list", "--keys-dir", foreign); err != nil {
		t.Fatal(err)
	}
	for creds, want := range map[string]string{
		filepath.Join(foreign, natsbus.AuthorityDir, "ingest.creds"): "Authorization Violation",
		filepath.Join(keys, natsbus.AuthorityDir, "relay.creds"):     "cannot read INTAKE with this NATS identity",
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var out syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--data-dir", t.TempDir(), "--keys-dir", keys, "--role", "ingest", "--nats-url", url, "--nats-creds", creds},
				func(string) string { return "" }, strings.NewReader(""), &out, &out)
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("serve with %s: %v (want %q)", creds, err, want)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("serve with %s did not stop at start", creds)
			cancel()
			<-done
		}
		cancel()
	}
}

// TestInsecureFlagsSayWhatTheyOpen: with --insecure-anonymous and
// --allow-unsigned, an emitter with no creds and no key is let in and its
// unsigned commands are recorded, and serve says both at ERROR.
func TestInsecureFlagsSayWhatTheyOpen(t *testing.T) {
	dir := t.TempDir()
	port := strconv.Itoa(freePort(t))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:" + port, "--insecure-anonymous", "--allow-unsigned"},
			func(string) string { return "" }, strings.NewReader(""), &out, &out)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "caseledger serving") })
	empty := t.TempDir() // no creds, no emitter key
	got, _, err := runArgs(t, map[string]string{"CASELEDGER_NATS_URL": "nats://127.0.0.1:" + port, "CASELEDGER_KEYS_DIR": empty}, "emit", "--demo", "1")
	if err != nil || !strings.Contains(got, " 0 refused, 0 unknown") {
		t.Fatalf("an anonymous, unsigned emitter: %v\n%s", err, got)
	}
	for _, want := range []string{`"level":"ERROR","msg":"--insecure-anonymous`, `"level":"ERROR","msg":"--allow-unsigned`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve's log lacks %s:\n%s", want, out.String())
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
