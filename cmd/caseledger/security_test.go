package main

import (
	"context"
	"errors"
	"github.com/caseledger/caseledger/internal/testcert"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats-server/v2/server"
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
