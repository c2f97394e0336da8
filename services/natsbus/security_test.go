package natsbus_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/internal/testcert"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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

const caseID = "0195f000-0000-7000-8000-000000000001"

// TestPermissions: on the embedded server with TLS and the authority's
// identities, an emitter publishes commands and nothing else; a police
// reader reads the police, shared and sealed-envelope streams and no
// social-work message by any path (core subscribe, consumer, stream get,
// direct get, another identity's inbox); unknown, foreign, expired and
// revoked identities and anonymous clients are refused.
func TestPermissions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, cert, key := testcert.Write(t, dir)
	auth, created, err := natsbus.OpenAuthority(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != len(natsbus.Roles) {
		t.Fatalf("created %v, want one creds file per role", created)
	}
	if st, _ := os.Stat(auth.Dir()); st.Mode().Perm() != 0o700 {
		t.Errorf("identities directory mode %v, want 0700", st.Mode().Perm())
	}
	ns, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{Listen: "127.0.0.1:-1", StoreDir: filepath.Join(dir, "js"), TLSCert: cert, TLSKey: key, Authority: auth})
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
	for _, c := range natsbus.EventCompartments {
		if _, err := sjs.Publish(ctx, natsbus.EventSubject(c, caseID, "case.note_added"), []byte(`{"secret":"`+string(c)+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	url := strings.Replace(ns.ClientURL(), "nats://", "tls://", 1)
	creds := func(role string) string { return filepath.Join(auth.Dir(), role+".creds") }
	as := func(credsFile string, v *violations) (*nats.Conn, error) {
		opts, err := natsbus.ClientOptions(credsFile, ca)
		if err != nil {
			return nil, err
		}
		return nats.Connect(url, append(opts, nats.ErrorHandler(v.handler))...)
	}

	var ev violations
	nc, err := as(creds(natsbus.RoleEmitter), &ev)
	if err != nil {
		t.Fatalf("the emitter could not connect: %v", err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(ctx, natsbus.IntakeSubject("add_note"), []byte(`{}`)); err != nil {
		t.Fatalf("the emitter could not send a command: %v", err)
	}
	nc.SubscribeSync(natsbus.EventsPrefix + ">")
	nc.SubscribeSync("_INBOX.>")
	nc.Publish(natsbus.EventSubject(domain.CompartmentPolice, "x", "case.opened"), []byte(`{}`))
	nc.Publish(natsbus.RejectedPrefix+"add_note", []byte(`{}`))
	nc.Flush()
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(tctx, natsbus.EventStream(domain.CompartmentPolice), jetstream.ConsumerConfig{}); err == nil {
		t.Error("the emitter made a consumer on an event stream")
	}
	within := func(v *violations, what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("not refused: %s (errors seen: %v)", what, v.errs)
				return
			}
		}
	}
	within(&ev, "the emitter subscribing to committed events", func() bool { return ev.saw("Subscription to \"" + natsbus.EventsPrefix + ">\"") })
	within(&ev, "the emitter subscribing to every inbox", func() bool { return ev.saw("Subscription to \"_INBOX.>\"") })
	within(&ev, "the emitter publishing an event", func() bool { return ev.saw("Publish to \"" + natsbus.EventsPrefix) })
	within(&ev, "the emitter publishing a rejection", func() bool { return ev.saw("Publish to \"" + natsbus.RejectedPrefix) })

	var rv violations
	rc, err := as(creds(natsbus.RoleReaderPolice), &rv)
	if err != nil {
		t.Fatalf("the police reader could not connect: %v", err)
	}
	defer rc.Close()
	rjs, _ := jetstream.New(rc)
	// It follows its compartments live: an event published now reaches it.
	live, err := rc.SubscribeSync(natsbus.EventsPrefix + "police.>")
	if err != nil {
		t.Fatal(err)
	}
	rc.Flush()
	if _, err := sjs.Publish(ctx, natsbus.EventSubject(domain.CompartmentPolice, caseID, "case.call_received"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := live.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("the police reader did not get a police event live: %v", err)
	}
	// It reads no message through JetStream, not even of its own streams:
	// every JetStream answer goes to the reply subject the requester
	// names, and a stream capturing that subject would keep it.
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	police := natsbus.EventStream(domain.CompartmentPolice)
	if _, err := rjs.CreateOrUpdateConsumer(pctx, police, jetstream.ConsumerConfig{}); err == nil {
		t.Error("the police reader made a consumer")
	}
	shared := natsbus.EventStream(domain.CompartmentShared)
	sharedInfo := func() uint64 {
		st, _ := sjs.Stream(ctx, shared)
		info, _ := st.Info(ctx)
		return info.State.Msgs
	}
	before := sharedInfo()
	target := natsbus.EventSubject(domain.CompartmentShared, caseID, "x.y")
	for _, api := range []string{"$JS.API.STREAM.MSG.GET." + police, "$JS.API.DIRECT.GET." + police} {
		rc.PublishRequest(api, target, []byte(`{"seq":1}`))
	}
	rc.Flush()
	within(&rv, "the police reader getting a message of its stream", func() bool { return rv.saw("Publish to \"$JS.API.STREAM.MSG.GET." + police) })
	time.Sleep(200 * time.Millisecond)
	if after := sharedInfo(); after != before {
		t.Errorf("a stream get answered onto a shared subject: the shared stream went from %d to %d messages", before, after)
	}
	sw := natsbus.EventStream(domain.CompartmentSocialWork)
	tctx2, cancel2 := context.WithTimeout(ctx, 2*time.Second)
	defer cancel2()
	if _, err := rjs.CreateOrUpdateConsumer(tctx2, sw, jetstream.ConsumerConfig{}); err == nil {
		t.Error("the police reader made a consumer on the social-work stream")
	}
	if _, err := rjs.CreateOrUpdateConsumer(tctx2, sw, jetstream.ConsumerConfig{Name: natsbus.EventStream(domain.CompartmentPolice)}); err == nil {
		t.Error("the police reader made a consumer on the social-work stream named after its own")
	}
	if _, err := rc.Request("$JS.API.STREAM.MSG.GET."+sw, []byte(`{"seq":1}`), time.Second); err == nil {
		t.Error("the police reader got a social-work message by stream get")
	}
	if _, err := rc.Request("$JS.API.DIRECT.GET."+sw, []byte(`{"seq":1}`), time.Second); err == nil {
		t.Error("the police reader got a social-work message by direct get")
	}
	rc.SubscribeSync(natsbus.EventsPrefix + string(domain.CompartmentSocialWork) + ".>")
	rc.Publish(natsbus.IntakeSubject("add_note"), []byte(`{}`))
	rc.Flush()
	within(&rv, "the police reader subscribing to social-work events", func() bool { return rv.saw("Subscription to \"" + natsbus.EventsPrefix + "social_work") })
	within(&rv, "the police reader sending a command", func() bool { return rv.saw("Publish to \"" + natsbus.IntakePrefix) })

	// Identities the server must not let in.
	refused := func(what string, opts ...nats.Option) {
		t.Helper()
		if c, err := nats.Connect(url, append([]nats.Option{nats.RootCAs(ca)}, opts...)...); err == nil {
			c.Close()
			t.Errorf("%s connected", what)
		}
	}
	refused("an anonymous client")
	foreign, _, err := natsbus.OpenAuthority(filepath.Join(dir, "other-keys"))
	if err != nil {
		t.Fatal(err)
	}
	refused("an identity of another authority", nats.UserCredentials(filepath.Join(foreign.Dir(), "emitter.creds")))
	expired, _, err := auth.Issue(natsbus.RoleEmitter, "short", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	expiredFile := filepath.Join(dir, "short.creds")
	os.WriteFile(expiredFile, expired, 0o600)
	time.Sleep(2100 * time.Millisecond)
	refused("an expired identity", nats.UserCredentials(expiredFile))
	opts, _ := natsbus.ClientOptions(creds(natsbus.RoleEmitter), "")
	if c, err := nats.Connect(url, opts...); err == nil {
		c.Close()
		t.Error("a client that does not trust the CA connected")
	}

	// Revocation: a running server closes the identity's connection and
	// refuses it from then on.
	wctx, wstop := context.WithCancel(ctx)
	defer wstop()
	go ns.WatchRevocations(wctx, auth, func(err error) { t.Error(err) })
	if name, err := auth.Revoke(creds(natsbus.RoleReaderPolice)); err != nil || name != natsbus.RoleReaderPolice {
		t.Fatalf("revoke: %q %v", name, err)
	}
	for deadline := time.Now().Add(10 * time.Second); rc.IsConnected(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the revoked identity is still connected")
		}
	}
	refused("a revoked identity", nats.UserCredentials(creds(natsbus.RoleReaderPolice)))
	if _, err := foreign.Revoke(creds(natsbus.RoleEmitter)); err == nil || !strings.Contains(err.Error(), "not issued by this authority") {
		t.Errorf("revoking another authority's identity: %v", err)
	}
}

func collect(b jetstream.MessageBatch) []jetstream.Msg {
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	return out
}

// TestAnonymousStreamsAdopted: streams an anonymous run stored (commands
// waiting in INTAKE) are there when the same store starts with identities.
func TestAnonymousStreamsAdopted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := filepath.Join(dir, "js")
	ns, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := natsbus.Connect(ns.ClientURL(), "t", ns.Self...)
	js, _ := jetstream.New(nc)
	if err := natsbus.EnsureStreams(ctx, js, natsbus.Defaults); err != nil {
		t.Fatal(err)
	}
	js.Publish(ctx, natsbus.IntakeSubject("add_note"), []byte(`{}`))
	nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()

	auth, _, err := natsbus.OpenAuthority(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	ns, err = natsbus.StartEmbedded(natsbus.EmbeddedConfig{StoreDir: store, Authority: auth})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err = natsbus.Connect(ns.ClientURL(), "t", ns.Self...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	st, err := js.Stream(ctx, natsbus.IntakeStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := st.Info(ctx); info.State.Msgs != 1 {
		t.Fatalf("INTAKE holds %d messages after identities were turned on, want 1", info.State.Msgs)
	}
}

func TestIsInbox(t *testing.T) {
	for subject, want := range map[string]bool{
		"_INBOX.emitter.abc": true, "_INBOX.x": true,
		"": false, "_INBOX.": false, "_INBOX.>": false, "_INBOX.a.*": false, "_INBOX.a..b": false, "_INBOX.a.": false,
		"caseledger.events.sealed.x.y": false, "caseledger.ledger.checkpoints": false, "_INBOXX.a": false, "_INBOX.a b": false,
	} {
		if got := natsbus.IsInbox(subject); got != want {
			t.Errorf("IsInbox(%q) = %v", subject, got)
		}
	}
}

// TestStoreEncryptedOnUpgrade: a store written in clear by an earlier
// version is still read once the JetStream key is set, and its files no
// longer hold the messages in clear.
func TestStoreEncryptedOnUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := filepath.Join(t.TempDir(), "js")
	body := []byte("a command body in clear, rue des Erables")
	start := func(key string) (*natsbus.Embedded, jetstream.JetStream) {
		ns, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{StoreDir: store, StoreKey: key})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := natsbus.Connect(ns.ClientURL(), "upgrade", ns.Self...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		return ns, js
	}
	ns, js := start("")
	if err := natsbus.EnsureStreams(ctx, js, natsbus.Defaults); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, natsbus.RejectedPrefix+"add_note", body); err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	key, err := natsbus.LoadStoreKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ns, js = start(key)
	defer ns.Shutdown()
	st, err := js.Stream(ctx, natsbus.RejectedStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != string(body) {
		t.Fatalf("the message stored in clear, read with the key set: %v", err)
	}
	err = filepath.WalkDir(store, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("rue des Erables")) {
			t.Errorf("%s still holds the message in clear", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
