package natsbus_test

import (
	"context"
	"github.com/caseledger/caseledger/internal/testcert"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// tlsFiles writes a CA and a server certificate for 127.0.0.1 signed by it.

func identity(t *testing.T, dir, name, role string) (natsbus.User, string) {
	t.Helper()
	seed, pub, err := natsbus.NewUserKey()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".nk")
	os.WriteFile(p, seed, 0o600)
	return natsbus.User{Name: name, NKey: pub, Role: role}, p
}

// violations collects a connection's asynchronous permission errors.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.errs = append(v.errs, err.Error())
}

func (v *violations) saw(sub string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.errs {
		if strings.Contains(e, "Permissions Violation") && strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

// TestPermissions: on the embedded server with TLS and NKey users, an
// emitter can publish commands and nothing else: it cannot subscribe to
// committed events, read CASE_EVENTS through JetStream, or publish on
// another role's subjects; a reader can read events and cannot send
// commands; unknown identities and clients that do not trust the CA are
// refused.
func TestPermissions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, cert, key := testcert.Write(t, dir)
	emitter, emitterSeed := identity(t, dir, "cad", natsbus.RoleEmitter)
	reader, readerSeed := identity(t, dir, "dashboard", natsbus.RoleReader)
	_, strangerSeed := identity(t, dir, "stranger", natsbus.RoleAll)
	ns, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{Listen: "127.0.0.1:-1", StoreDir: filepath.Join(dir, "js"), TLSCert: cert, TLSKey: key,
		Users: []natsbus.User{emitter, reader}})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	self, err := natsbus.Connect(ns.ClientURL(), "self", ns.Self...)
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	sjs, _ := jetstream.New(self)
	if err := natsbus.EnsureStreams(ctx, sjs, natsbus.Defaults); err != nil {
		t.Fatal(err)
	}
	if _, err := sjs.Publish(ctx, natsbus.EventSubject("0195f000-0000-7000-8000-000000000001", "case.opened"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(ns.ClientURL(), "nats://", "tls://", 1)
	as := func(seed string, v *violations) (*nats.Conn, error) {
		opts, err := natsbus.ClientOptions(seed, ca)
		if err != nil {
			t.Fatal(err)
		}
		return nats.Connect(url, append(opts, nats.ErrorHandler(v.handler))...)
	}

	var ev violations
	nc, err := as(emitterSeed, &ev)
	if err != nil {
		t.Fatalf("the emitter could not connect: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(ctx, natsbus.IntakeSubject("add_note"), []byte(`{}`)); err != nil {
		t.Fatalf("the emitter could not send a command: %v", err)
	}
	if _, err := nc.SubscribeSync(natsbus.EventsPrefix + ">"); err != nil {
		t.Fatal(err)
	}
	nc.Publish(natsbus.EventSubject("x", "case.opened"), []byte(`{}`))
	nc.Publish(natsbus.RejectedPrefix+"add_note", []byte(`{}`))
	nc.Flush()
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(tctx, natsbus.CaseEventsStream, jetstream.ConsumerConfig{}); err == nil {
		t.Error("the emitter made a consumer on CASE_EVENTS")
	}
	within := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("not refused: %s (errors seen: %v)", what, ev.errs)
				return
			}
		}
	}
	within("the emitter subscribing to committed events", func() bool { return ev.saw("Subscription to \"" + natsbus.EventsPrefix + ">\"") })
	within("the emitter publishing an event", func() bool { return ev.saw("Publish to \"" + natsbus.EventsPrefix) })
	within("the emitter publishing a rejection", func() bool { return ev.saw("Publish to \"" + natsbus.RejectedPrefix) })

	var rv violations
	rc, err := as(readerSeed, &rv)
	if err != nil {
		t.Fatalf("the reader could not connect: %v", err)
	}
	defer rc.Close()
	rjs, _ := jetstream.New(rc)
	cons, err := rjs.CreateOrUpdateConsumer(ctx, natsbus.CaseEventsStream, jetstream.ConsumerConfig{})
	if err != nil {
		t.Fatalf("the reader could not read CASE_EVENTS: %v", err)
	}
	if msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second)); err != nil || len(collect(msgs)) != 1 {
		t.Fatalf("the reader fetched nothing: %v", err)
	}
	rc.Publish(natsbus.IntakeSubject("add_note"), []byte(`{}`))
	rc.Flush()
	for deadline := time.Now().Add(5 * time.Second); !rv.saw("Publish to \"" + natsbus.IntakePrefix); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the reader sent a command (errors seen: %v)", rv.errs)
		}
	}

	if c, err := as(strangerSeed, &violations{}); err == nil {
		c.Close()
		t.Error("an identity not in the users file connected")
	}
	if c, err := nats.Connect(url, nats.RootCAs(ca)); err == nil {
		c.Close()
		t.Error("a client without an identity connected")
	}
	opts, _ := natsbus.ClientOptions(emitterSeed, "")
	if c, err := nats.Connect(url, opts...); err == nil {
		c.Close()
		t.Error("a client that does not trust the CA connected")
	}
}

func collect(b jetstream.MessageBatch) []jetstream.Msg {
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	return out
}

func TestLoadUsersNamesEveryProblem(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users.json")
	os.WriteFile(p, []byte(`[{"name":"a","nkey":"SUAM","role":"emitter"},{"name":"b","nkey":"UABC","role":"boss"}]`), 0o600)
	_, err := natsbus.LoadUsers(p)
	if err == nil || !strings.Contains(err.Error(), "entry 1 (a): nkey is not a user public key") || !strings.Contains(err.Error(), "entry 2 (b): role must be one of") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "SUAM") {
		t.Error("the error repeats a key")
	}
}
