package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/caseledger/caseledger/internal/testcert"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats-server/v2/server"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServeWithNATSSecurity: serve's embedded server with TLS and NKey
// users takes commands from an emitter holding its seed and trusting the
// CA, and refuses the same emitter without its seed; misconfigurations are
// listed at start, one message each, before anything starts.
func TestServeWithNATSSecurity(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := testcert.Write(t, dir)
	entry, _, err := runArgs(t, nil, "keygen", "--nats-user", "cad", "--role", "emitter", "--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users.json")
	os.WriteFile(users, []byte("["+strings.TrimSpace(entry)+"]"), 0o600)
	port := strconv.Itoa(freePort(t))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--nats-listen", "127.0.0.1:" + port,
			"--nats-tls-cert", cert, "--nats-tls-key", key, "--nats-users", users}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "caseledger serving") })
	env := map[string]string{"CASELEDGER_NATS_URL": "tls://127.0.0.1:" + port}
	got, _, err := runArgs(t, env, "emit", "--demo", "2", "--nkey", filepath.Join(dir, "cad.nk"), "--nats-ca", ca)
	if err != nil || !strings.Contains(got, "emitted 2 cases") {
		t.Fatalf("emit with the emitter's seed: %v\n%s", err, got)
	}
	if _, _, err := runArgs(t, env, "emit", "--demo", "1", "--nats-ca", ca, "--timeout", "2s"); err == nil {
		t.Fatal("an emitter without its seed was let in")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, out.String())
	}

	_, _, err = runArgs(t, nil, "serve", "--data-dir", t.TempDir(), "--nats-tls-cert", filepath.Join(dir, "missing.pem"), "--nats-users", filepath.Join(dir, "none.json"),
		"--nats-nkey", filepath.Join(dir, "cad.nk"))
	if !errors.Is(err, errUsage) {
		t.Fatalf("misconfigured serve: %v", err)
	}
	for _, want := range []string{"--nats-tls-cert and --nats-tls-key go together", "--nats-tls-cert: " + filepath.Join(dir, "missing.pem") + " cannot be read",
		"--nats-users: " + filepath.Join(dir, "none.json") + " cannot be read", "--nats-nkey and --nats-ca are for an external NATS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
}

// TestNATSConfForTheCluster: the authorization block natsconf prints is
// read by nats-server's own parser into the same users and permissions the
// embedded server applies.
func TestNATSConfForTheCluster(t *testing.T) {
	dir := t.TempDir()
	var entries []string
	for _, u := range [][2]string{{"cad", "emitter"}, {"ingest", "ingest"}, {"dashboard", "reader"}} {
		e, _, err := runArgs(t, nil, "keygen", "--nats-user", u[0], "--role", u[1], "--out", dir)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, strings.TrimSpace(e))
	}
	users := filepath.Join(dir, "users.json")
	os.WriteFile(users, []byte("["+strings.Join(entries, ",")+"]"), 0o600)
	conf, _, err := runArgs(t, nil, "natsconf", users)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "auth.conf")
	os.WriteFile(path, []byte("port: 4222\n"+conf), 0o600)
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server rejects the block: %v\n%s", err, conf)
	}
	loaded, _ := natsbus.LoadUsers(users)
	if len(opts.Nkeys) != len(loaded) {
		t.Fatalf("%d nkey users parsed, %d in the file", len(opts.Nkeys), len(loaded))
	}
	for i, u := range loaded {
		want, _ := natsbus.Permissions(u.Role)
		got := opts.Nkeys[i]
		if got.Nkey != u.NKey || !reflect.DeepEqual(got.Permissions.Publish.Allow, want.Publish.Allow) || !reflect.DeepEqual(got.Permissions.Subscribe.Allow, want.Subscribe.Allow) {
			t.Errorf("user %s: parsed %+v, want %+v", u.Name, got.Permissions, want)
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
	// NATS refusing the identity: an external nats-server whose users come
	// from natsconf, and a seed it does not know.
	_, natsBin := binaries(t)
	dir := t.TempDir()
	entry, _, err := runArgs(t, nil, "keygen", "--nats-user", "relay", "--role", "relay", "--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runArgs(t, nil, "keygen", "--nats-user", "stranger", "--role", "relay", "--out", dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "users.json"), []byte("["+strings.TrimSpace(entry)+"]"), 0o600)
	auth, _, err := runArgs(t, nil, "natsconf", filepath.Join(dir, "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := filepath.Join(dir, "nats.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q }\n%s", port, filepath.Join(dir, "js"), auth)), 0o600)
	start(t, natsBin, "-c", conf)
	within(t, 20*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	for seed, want := range map[string]string{"stranger.nk": "Authorization Violation", "relay.nk": "cannot read INTAKE with this NATS identity"} {
		ctx, cancel := context.WithCancel(context.Background())
		var out syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--data-dir", dir, "--role", "ingest", "--nats-url", url, "--nats-nkey", filepath.Join(dir, seed)},
				func(string) string { return "" }, strings.NewReader(""), &out, &out)
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("serve with %s: %v (want %q)", seed, err, want)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("serve with %s did not stop at start", seed)
			cancel()
			<-done
		}
		cancel()
	}
}
