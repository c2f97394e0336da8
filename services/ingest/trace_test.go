package ingest_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/caseledger/caseledger/services/tracing"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	_ "modernc.org/sqlite"
)

// TestOneTraceFromEmitterToProjection: a command sent inside an emitter's
// span is ingested, appended, relayed and projected in spans of that same
// trace, carried by NATS headers and the events' metadata.
func TestOneTraceFromEmitterToProjection(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(sdktrace.NewTracerProvider()) })
	n := startNode(t)
	c, err := gen.New(61).Case()
	if err != nil {
		t.Fatal(err)
	}
	ctx, root := tp.Tracer("emitter").Start(context.Background(), "cad.open_case")
	if _, err := n.client.Send(ctx, c.Steps[0].Command); err != nil {
		t.Fatal(err)
	}
	root.End()
	traceID := root.SpanContext().TraceID()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "rm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := projections.NewRunner(context.Background(), db, n.store, projections.CaseFiles{})
	if err != nil {
		t.Fatal(err)
	}
	r.AfterCommit = tracing.Projected
	if _, err := r.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// The relayed message carries the trace on.
	cons, err := n.js.CreateOrUpdateConsumer(context.Background(), natsbus.EventStream(domain.CompartmentPolice), jetstream.ConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range msgs.Messages() {
		if tpHeader := m.Headers().Get("traceparent"); !strings.Contains(tpHeader, traceID.String()) {
			t.Errorf("CASE_EVENTS message traceparent %q, want trace %s", tpHeader, traceID)
		}
	}
	seen := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == traceID {
				seen[s.Name()] = true
			}
		}
		if len(seen) >= 5 {
			break
		}
	}
	for _, name := range []string{"cad.open_case", "caseledger.ingest", "caseledger.append", "caseledger.relay", "caseledger.project"} {
		if !seen[name] {
			t.Errorf("no %s span in the command's trace (saw %v)", name, seen)
		}
	}
	for _, s := range rec.Ended() {
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), "MNI-") {
				t.Errorf("span %s carries a person id in %s", s.Name(), a.Key)
			}
		}
	}
}
