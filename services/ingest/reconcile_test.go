package ingest_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/internal/testfixture"
	"github.com/caseledger/caseledger/services/ingest"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestReconcileRemovesRecordedOrphans leaves two INTAKE messages below
// ingest's acknowledged floor, as a storage fault does (the
// acknowledgement stored, the removal not): one whose command is in the
// record is removed and counted; one whose command is not is kept and
// logged once, by sequence and command id.
func TestReconcileRemovesRecordedOrphans(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := natsbus.Connect(ns.ClientURL(), "test", ns.Self...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// INTAKE as a limits stream keeps what is acknowledged: the state a
	// storage fault leaves a work queue in (a work queue also refuses a
	// consumer that starts past its first message, used below).
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: natsbus.IntakeStream, Subjects: []string{natsbus.IntakePrefix + ">"}, Duplicates: time.Hour}); err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var log testfixture.SyncBuffer
	in, err := ingest.New(nc, store, ingest.Config{AllowUnsigned: true, Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	client, _ := intake.New(nc)
	c, err := gen.New(5).Case()
	if err != nil {
		t.Fatal(err)
	}
	recorded, pending := c.Steps[0].Command, c.Steps[1].Command

	// The first command is recorded by a running ingest.
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = in.Run(rctx) }()
	if _, err := client.Send(ctx, recorded); err != nil {
		t.Fatal(err)
	}
	stop()
	wg.Wait()

	// A copy of it and a command never handled end up below the floor.
	var last uint64
	for i, cmd := range []domain.Command{recorded, pending} {
		name, body, err := domain.EncodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		m := &nats.Msg{Subject: natsbus.IntakeSubject(name), Data: body, Header: nats.Header{}}
		m.Header.Set(nats.MsgIdHdr, cmd.Head().CommandID.String()+".orphan"+string(rune('0'+i)))
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	if err := js.DeleteConsumer(ctx, natsbus.IntakeStream, natsbus.IngestConsumer); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(ctx, natsbus.IntakeStream, jetstream.ConsumerConfig{Durable: natsbus.IngestConsumer,
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: last + 1,
		FilterSubject: natsbus.IntakePrefix + ">"}); err != nil {
		t.Fatal(err)
	}

	logged := map[uint64]bool{}
	for range 2 { // the second pass logs nothing new
		if err := in.Reconcile(ctx, logged); err != nil {
			t.Fatal(err)
		}
	}
	if n := in.Stats.OrphansRemoved.Load(); n != 2 {
		t.Fatalf("%d orphans removed, want 2 (the recorded command and its copy)", n)
	}
	st, _ := js.Stream(ctx, natsbus.IntakeStream)
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || info.State.FirstSeq != last {
		t.Fatalf("INTAKE holds %d messages from %d, want the unrecorded one (%d) alone", info.State.Msgs, info.State.FirstSeq, last)
	}
	out := log.String()
	if strings.Count(out, "kept for the operator") != 1 || !strings.Contains(out, pending.Head().CommandID.String()) {
		t.Fatalf("the unrecorded orphan is not logged once with its command id:\n%s", out)
	}
}
