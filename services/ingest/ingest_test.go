package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/ingest"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/caseledger/caseledger/services/relay"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// node is a single caseledger node for a test: an embedded NATS server with
// JetStream, a SQLite store, ingest and relay, all real.
type node struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	store  *sqlite.Store
	ingest *ingest.Service
	relay  *relay.Service
	client *intake.Client
}

func startNode(t testing.TB) *node {
	t.Helper()
	return startNodeWith(t, nil)
}

// startNodeWith starts a node whose ingest and relay use wrap(store) when
// wrap is given (a fault-injecting wrapper, say).
func startNodeWith(t testing.TB, wrap func(eventstore.Store) eventstore.Store) *node {
	t.Helper()
	// These nodes test what ingest does with commands, not who sent them
	// (TestSignedCommands): unsigned commands are taken.
	return startNodeCfg(t, wrap, ingest.Config{AllowUnsigned: true})
}

func startNodeCfg(t testing.TB, wrap func(eventstore.Store) eventstore.Store, cfg ingest.Config) *node {
	t.Helper()
	dir := t.TempDir()
	ns, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{Listen: "127.0.0.1:-1", StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := natsbus.Connect(ns.ClientURL(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := natsbus.EnsureStreams(ctx, js, natsbus.Defaults); err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{nc: nc, js: js, store: store}
	var used eventstore.Store = store
	if wrap != nil {
		used = wrap(store)
	}
	if n.ingest, err = ingest.New(nc, used, cfg); err != nil {
		t.Fatal(err)
	}
	if n.relay, err = relay.New(nc, used, nil); err != nil {
		t.Fatal(err)
	}
	if n.client, err = intake.New(nc); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{n.ingest.Run, n.relay.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(runCtx); err != nil {
				t.Error(err)
			}
		}()
	}
	t.Cleanup(func() { stop(); wg.Wait(); store.Close() })
	return n
}

func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGeneratedCasesEndToEnd emits generated cases through the client (each
// case's commands in order, cases concurrently), then checks that the store
// holds every event with intact chains and CASE_EVENTS carries each exactly
// once.
func TestGeneratedCasesEndToEnd(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cases, err := gen.New(31).Cases(40)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uuid.UUID]bool{}
	var wg sync.WaitGroup
	for _, c := range cases {
		for _, e := range c.Events() {
			want[e.ID] = true
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, step := range c.Steps {
				out, err := n.client.Send(ctx, step.Command)
				if err != nil {
					t.Errorf("%s: %v", domain.CommandName(step.Command), err)
					return
				}
				if out.Duplicate || len(out.EventIDs) != len(step.Events) {
					t.Errorf("%s: outcome %+v", domain.CommandName(step.Command), out)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// The decision time is ingest's clock, so event contents differ from the
	// generator's recorded_at; ids, order and chains must match.
	v := eventstore.NewVerifier()
	stored := 0
	for after := eventstore.Start; ; {
		page, err := n.store.ReadAll(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if !want[r.ID] {
				t.Fatalf("unexpected event %s in the store", r.ID)
			}
			if b := v.Add(r); b != nil {
				t.Fatal(b)
			}
			stored++
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Position
	}
	if stored != len(want) {
		t.Fatalf("%d events stored, %d emitted", stored, len(want))
	}
	within(t, 30*time.Second, "relay caught up", func() bool { return int(n.relay.Published.Load()) == len(want) })
	// Each event once, in the stream of its compartment: read them all
	// back.
	seen := map[string]bool{}
	for _, comp := range natsbus.EventCompartments {
		st, err := n.js.Stream(ctx, natsbus.EventStream(comp))
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for i := uint64(0); i < info.State.Msgs; i++ {
			m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				t.Fatalf("%s after %d messages: %v", natsbus.EventStream(comp), i, err)
			}
			id := m.Headers().Get(nats.MsgIdHdr)
			if seen[id] {
				t.Fatalf("event %s relayed twice", id)
			}
			if !strings.HasPrefix(m.Subject(), natsbus.EventsPrefix+string(comp)+".") {
				t.Fatalf("subject %s in %s", m.Subject(), natsbus.EventStream(comp))
			}
			var rm relay.Message
			if err := json.Unmarshal(m.Data(), &rm); err != nil || rm.Compartment != string(comp) {
				t.Fatalf("message %s: compartment %q, %v", id, rm.Compartment, err)
			}
			if comp == domain.CompartmentSealed && (rm.Data != nil || rm.Metadata != nil) {
				t.Fatalf("sealed entry %s published with its payload", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("the event streams hold %d messages for %d events", len(seen), len(want))
	}
	if n.ingest.Stats.Accepted.Load() == 0 || n.ingest.Stats.Rejected.Load() != 0 {
		t.Fatalf("stats: accepted %d, rejected %d", n.ingest.Stats.Accepted.Load(), n.ingest.Stats.Rejected.Load())
	}
}

// TestRedeliveryIsAbsorbed sends the same command three times (as an
// emitter retrying after a timeout would): one write, two duplicates with
// the same result.
func TestRedeliveryIsAbsorbed(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := gen.New(2).Case()
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range c.Steps[:6] {
		first, err := n.client.Send(ctx, step.Command)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			again, err := n.client.Send(ctx, step.Command)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Duplicate || again.FirstVersion != first.FirstVersion || strings.Join(again.EventIDs, ",") != strings.Join(first.EventIDs, ",") {
				t.Fatalf("retry of %s: %+v, first %+v", domain.CommandName(step.Command), again, first)
			}
		}
		// Send and Publish both set the command id as Nats-Msg-Id: the
		// command Send stored, a Publish within the window does not store
		// again (JetStream drops it); Send's later calls were answered
		// through copies of their own, absorbed by ingest, as the count of
		// events below shows.
		for i := range 2 {
			ack, err := n.client.Publish(ctx, step.Command)
			if err != nil {
				t.Fatal(err)
			}
			if !ack.Duplicate {
				t.Fatalf("publish %d of %s: duplicate %v", i+1, domain.CommandName(step.Command), ack.Duplicate)
			}
		}
	}
	within(t, 10*time.Second, "intake drained", func() bool {
		st, _ := n.js.Stream(ctx, natsbus.IntakeStream)
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	recs, err := n.store.ReadStream(ctx, domain.StreamName(c.ID), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, step := range c.Steps[:6] {
		want += len(step.Events)
	}
	if len(recs) != want {
		t.Fatalf("%d events stored, want %d", len(recs), want)
	}
}

// TestBadInputIsRejected: each kind of bad input gets a structured answer
// and a copy on REJECTED, and a valid command sent among them is accepted.
// conflicting returns an open_case body with another module than module.
func conflicting(body, module string) string {
	other := "joint"
	if module == other {
		other = "victim_support"
	}
	return strings.Replace(body, `"module":"`+module+`"`, `"module":"`+other+`"`, 1)
}

func TestBadInputIsRejected(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := gen.New(9).Case()
	if err != nil {
		t.Fatal(err)
	}
	open := c.Steps[0].Command
	if _, err := n.client.Send(ctx, open); err != nil {
		t.Fatal(err)
	}
	raw := func(subject, body string) natsbus.Outcome {
		t.Helper()
		inbox := nats.NewInbox()
		sub, err := n.nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		m := &nats.Msg{Subject: subject, Data: []byte(body), Header: nats.Header{}}
		m.Header.Set(natsbus.HeaderReplyTo, inbox)
		if _, err := n.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		reply, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var o natsbus.Outcome
		if err := jsonUnmarshal(reply.Data, &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	_, openBody, _ := domain.EncodeCommand(open)
	caseID := open.Head().CaseID.String()
	secret := "Jane Doe, 12 rue Secrète"
	tests := []struct {
		name, subject, body, code, field string
	}{
		{"malformed JSON", "caseledger.intake.add_note", `{"case_id":`, "malformed", "(body)"},
		{"unknown command", "caseledger.intake.delete_everything", `{}`, "unknown_command", "command"},
		{"unknown field", "caseledger.intake.open_case", strings.Replace(string(openBody), `"module"`, `"victim_name":"`+secret+`","module"`, 1), "malformed", "victim_name"},
		{"missing field", "caseledger.intake.add_note", `{"case_id":"` + caseID + `","command_id":"` + uuid.NewString() + `","actor":{"user_id":"u","role":"officer","agency":"a"},"occurred_at":"2025-01-01T00:00:00Z","source_system":"t","note_id":"` + uuid.NewString() + `"}`, "invalid_field", "text"},
		{"case that does not exist", "caseledger.intake.add_note", `{"case_id":"` + uuid.NewString() + `","command_id":"` + uuid.NewString() + `","actor":{"user_id":"u","role":"officer","agency":"a"},"occurred_at":"2025-01-01T00:00:00Z","source_system":"t","note_id":"` + uuid.NewString() + `","text":"` + secret + `"}`, "case_not_found", ""},
		{"rule broken", "caseledger.intake.escalate_high_risk", `{"case_id":"` + caseID + `","command_id":"` + uuid.NewString() + `","actor":{"user_id":"u","role":"officer","agency":"` + open.Head().Actor.Agency + `"},"occurred_at":"2025-01-01T00:00:00Z","source_system":"t","to":"cell"}`, "not_high_risk", ""},
		// The open_case already recorded, sent again with another body.
		{"conflicting duplicate", "caseledger.intake.open_case", conflicting(string(openBody), string(open.(domain.OpenCase).Module)), "conflicting_duplicate", "command_id"},
		// Another agency's case is unknown to its commands, on NATS as over HTTP.
		{"case of another agency", "caseledger.intake.escalate_high_risk", `{"case_id":"` + caseID + `","command_id":"` + uuid.NewString() + `","actor":{"user_id":"u","role":"officer","agency":"a"},"occurred_at":"2025-01-01T00:00:00Z","source_system":"t","to":"cell"}`, "case_not_found", ""},
		{"oversized", "caseledger.intake.add_note", `{"text":"` + strings.Repeat("x", 300<<10) + `"}`, "too_large", "(body)"},
		// Over INTAKE's old 1 MiB limit, under the server's: stored, then
		// rejected with a reason, not dropped by the stream.
		{"far oversized", "caseledger.intake.add_note", `{"text":"` + strings.Repeat("x", 2<<20) + `"}`, "too_large", "(body)"},
		{"subject with extra tokens", "caseledger.intake.add_note.extra", `{}`, "bad_subject", "subject"},
	}
	for _, tt := range tests {
		o := raw(tt.subject, tt.body)
		if o.Accepted || o.Code != tt.code || o.Field != tt.field {
			t.Errorf("%s: got %+v, want code %s field %s", tt.name, o, tt.code, tt.field)
		}
		if strings.Contains(o.Reason, "Jane") || strings.Contains(o.Reason, "Secr") {
			t.Errorf("%s: reason repeats personal data: %s", tt.name, o.Reason)
		}
	}
	// Ingest keeps running: the case's next command is accepted.
	if _, err := n.client.Send(ctx, c.Steps[1].Command); err != nil {
		t.Fatal(err)
	}
	st, err := n.js.Stream(ctx, natsbus.RejectedStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(info.State.Msgs) != len(tests) {
		t.Fatalf("REJECTED holds %d messages, want %d", info.State.Msgs, len(tests))
	}
	last, err := st.GetLastMsgForSubject(ctx, natsbus.RejectedPrefix+">")
	if err != nil {
		t.Fatal(err)
	}
	if last.Header.Get(natsbus.HeaderCode) == "" || last.Header.Get(natsbus.HeaderReason) == "" {
		t.Fatalf("rejection without its reason: %v", last.Header)
	}
	// Send reports a rejection as an error wrapping ErrRejected.
	if _, err := n.client.Send(ctx, open); err != nil {
		t.Fatalf("a retried open is absorbed, not rejected: %v", err)
	}
	bad := c.Steps[1].Command.(domain.ReceiveCall)
	bad.CommandID = uuid.New()
	if _, err := n.client.Send(ctx, bad); !errors.Is(err, intake.ErrRejected) {
		t.Fatalf("duplicate call: %v", err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// flaky is a real store that can be switched off: while down, every call
// fails as an unreachable EventStoreDB would.
type flaky struct {
	eventstore.Store
	down atomic.Bool
}

var errDown = errors.New("store unavailable")

func (f *flaky) Append(ctx context.Context, s string, e eventstore.ExpectedVersion, ev []eventstore.EventData) (eventstore.AppendResult, error) {
	if f.down.Load() {
		return eventstore.AppendResult{}, errDown
	}
	return f.Store.Append(ctx, s, e, ev)
}

func (f *flaky) ReadStream(ctx context.Context, s string, from int64, max int) ([]eventstore.Record, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Store.ReadStream(ctx, s, from, max)
}

func (f *flaky) ReadAll(ctx context.Context, after eventstore.Position, max int) ([]eventstore.Record, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Store.ReadAll(ctx, after, max)
}

// TestStoreOutage switches the store off for a few seconds while commands
// flow: intake backs up in JetStream and drains when the store returns;
// nothing is rejected, lost or doubled, and each case keeps its order.
func TestStoreOutage(t *testing.T) {
	var f *flaky
	n := startNodeWith(t, func(s eventstore.Store) eventstore.Store { f = &flaky{Store: s}; return f })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cases, err := gen.New(44).Cases(40)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for i, c := range cases {
		if i == len(cases)/3 {
			f.down.Store(true)
		}
		for _, step := range c.Steps {
			if _, err := n.client.Publish(ctx, step.Command); err != nil {
				t.Fatal(err)
			}
			want += len(step.Events)
		}
	}
	within(t, 10*time.Second, "ingest retrying", func() bool { return n.ingest.Stats.Retried.Load() > 0 })
	st, _ := n.js.Stream(ctx, natsbus.IntakeStream)
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		t.Fatalf("INTAKE did not back up: %v %v", info, err)
	}
	time.Sleep(2 * time.Second)
	f.down.Store(false)
	within(t, 90*time.Second, "intake drained", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	v := eventstore.NewVerifier()
	for after := eventstore.Start; ; {
		page, err := n.store.ReadAll(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			if b := v.Add(r); b != nil {
				t.Fatal(b)
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Position
	}
	if int(v.Events) != want || v.Streams != len(cases) {
		t.Fatalf("%d events in %d streams, want %d in %d", v.Events, v.Streams, want, len(cases))
	}
	if r := n.ingest.Stats.Rejected.Load(); r != 0 {
		t.Fatalf("%d commands rejected after the outage", r)
	}
	within(t, 30*time.Second, "relay caught up", func() bool { return int(n.relay.Published.Load()) == want })
}

// TestSignedCommands: only commands signed by a registered emitter, whose
// source_system and actor's agency are among the emitter's, are recorded;
// without a registry nothing unsigned is.
func TestSignedCommands(t *testing.T) {
	dir := t.TempDir()
	priv, entry, err := intake.NewKey("cad", "police-lavallee")
	if err != nil {
		t.Fatal(err)
	}
	otherPriv, _, _ := intake.NewKey("cad")
	reg := filepath.Join(dir, "emitters.json")
	b, _ := json.Marshal([]intake.RegistryEntry{entry})
	keyFile := filepath.Join(dir, "cad.key")
	otherFile := filepath.Join(dir, "impostor.key")
	for f, data := range map[string][]byte{reg: b, keyFile: []byte(priv + "\n"), otherFile: []byte(otherPriv)} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	registry, err := intake.LoadRegistry(reg)
	if err != nil {
		t.Fatal(err)
	}
	n := startNodeCfg(t, nil, ingest.Config{Emitters: registry})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := gen.New(5).Case()
	if err != nil {
		t.Fatal(err)
	}
	open := c.Steps[0].Command.(domain.OpenCase)
	open.SourceSystem = "cad"
	signer, err := intake.LoadSigner("cad", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	impostor, _ := intake.LoadSigner("cad", otherFile)
	wrongSystem := open
	wrongSystem.SourceSystem = "records"
	otherAgency := open
	otherAgency.Actor.Agency = "police-montreal"
	otherAgency.Agency = "police-montreal"

	for name, tc := range map[string]struct {
		client *intake.Client
		cmd    domain.Command
		field  string
	}{
		"unsigned":                {n.client, open, intake.HeaderSignature},
		"another key":             {n.client.WithSigner(impostor), open, intake.HeaderSignature},
		"claims another system":   {n.client.WithSigner(signer), wrongSystem, "source_system"},
		"acts for another agency": {n.client.WithSigner(signer), otherAgency, "actor.agency"},
	} {
		out, err := tc.client.Send(ctx, tc.cmd)
		if !errors.Is(err, intake.ErrRejected) || out.Code != "unauthenticated" || out.Field != tc.field {
			t.Errorf("%s: %+v %v", name, out, err)
		}
	}
	out, err := n.client.WithSigner(signer).Send(ctx, open)
	if err != nil || !out.Accepted {
		t.Fatalf("signed command: %+v %v", out, err)
	}
	// No registry and unsigned commands not allowed: refused, not recorded.
	bare := startNodeCfg(t, nil, ingest.Config{})
	c2, _ := gen.New(6).Case()
	if out, err := bare.client.Send(ctx, c2.Steps[0].Command); !errors.Is(err, intake.ErrRejected) || out.Code != "unauthenticated" {
		t.Errorf("unsigned command without a registry: %+v %v", out, err)
	}
	if ev, _ := bare.store.ReadStream(ctx, "case-"+c2.ID.String(), 0, 10); len(ev) != 0 {
		t.Errorf("the refused command recorded %d events", len(ev))
	}
	// A registry with a bad entry is refused whole, naming each problem.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{"emitter":"CAD!","public_key":"x"},{"emitter":"rms","public_key":"bm90IGEga2V5"},`+
		`{"emitter":"shelter","public_key":"`+entry.PublicKey+`"}]`), 0o600)
	if _, err := intake.LoadRegistry(bad); err == nil || !strings.Contains(err.Error(), "entry 0") || !strings.Contains(err.Error(), "entry 1 (rms)") ||
		!strings.Contains(err.Error(), "entry 2 (shelter): agencies must list") {
		t.Fatalf("bad registry: %v", err)
	}
}

// TestFloodOfBadInput: one emitter floods INTAKE with thousands of bad
// commands (malformed, oversized, unknown, rule-breaking) while another
// sends a case: every bad one is rejected and filed, every valid one is
// recorded in order, and ingest keeps running.
func TestFloodOfBadInput(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := gen.New(13).Case()
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct{ subject, body string }{
		{"caseledger.intake.add_note", `{"case_id":`},
		{"caseledger.intake.open_case", `{"case_id":"` + uuid.NewString() + `"}`},
		{"caseledger.intake.no_such_command", `{}`},
		{"caseledger.intake.add_note", `{"text":"` + strings.Repeat("x", 300<<10) + `"}`},
	}
	const floods = 2000
	var futures []jetstream.PubAckFuture
	step := 0
	for i := range floods {
		b := bad[i%len(bad)]
		f, err := n.js.PublishMsgAsync(&nats.Msg{Subject: b.subject, Data: []byte(b.body)})
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
		if i%(floods/len(c.Steps)+1) == 0 && step < len(c.Steps) {
			if _, err := n.client.Publish(ctx, c.Steps[step].Command); err != nil {
				t.Fatal(err)
			}
			step++
		}
	}
	for ; step < len(c.Steps); step++ {
		if _, err := n.client.Publish(ctx, c.Steps[step].Command); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for n.ingest.Stats.Rejected.Load() != floods || n.ingest.Stats.Accepted.Load() != int64(len(c.Steps)) {
		if time.Now().After(deadline) {
			t.Fatalf("flood not handled in 3 minutes: rejected %d of %d, accepted %d of %d, retried %d",
				n.ingest.Stats.Rejected.Load(), floods, n.ingest.Stats.Accepted.Load(), len(c.Steps), n.ingest.Stats.Retried.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	recs, err := n.store.ReadStream(ctx, domain.StreamName(c.ID), 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(c.Events()) || eventstore.VerifyStream(recs) != nil {
		t.Fatalf("%d events of %d stored", len(recs), len(c.Events()))
	}
	st, _ := n.js.Stream(ctx, natsbus.RejectedStream)
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs != floods {
		t.Fatalf("REJECTED holds %v: %v", info.State.Msgs, err)
	}
}
