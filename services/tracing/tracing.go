// Package tracing follows one command through caseledger with
// OpenTelemetry: the emitter's trace context travels in NATS headers
// (W3C traceparent), ingest continues it while it decides and appends,
// the recorded events keep it in their metadata (traceparent: ids only),
// and the relay and the projections continue it from there. Spans carry
// ids and type names, never case content.
package tracing

import (
	"context"
	"fmt"
	"net/http"

	"time"

	"github.com/caseledger/caseledger/projections"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Tracer is caseledger's tracer; a no-op until Setup installs a provider.
func Tracer() trace.Tracer { return otel.Tracer("github.com/caseledger/caseledger") }

var propagator = propagation.TraceContext{}

// natsCarrier keeps W3C header names as they are ("traceparent"): NATS
// headers are case-sensitive, unlike HTTP's.
type natsCarrier nats.Header

func (c natsCarrier) Get(k string) string {
	if v := nats.Header(c).Get(k); v != "" {
		return v
	}
	return http.Header(c).Get(k) // a canonical "Traceparent" from elsewhere
}

func (c natsCarrier) Set(k, v string) { nats.Header(c).Set(k, v) }

func (c natsCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes ctx's trace context into NATS headers.
func Inject(ctx context.Context, h nats.Header) {
	propagator.Inject(ctx, natsCarrier(h))
}

// Extract reads a trace context from NATS headers.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return propagator.Extract(ctx, natsCarrier(h))
}

// TraceParent is ctx's span as a W3C traceparent, or "" when ctx has no
// sampled span to continue.
func TraceParent(ctx context.Context) string {
	h := http.Header{}
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
	return h.Get("traceparent")
}

// FromTraceParent is ctx continuing the trace a traceparent names.
func FromTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	h := http.Header{}
	h.Set("traceparent", tp)
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// Setup exports spans over OTLP/gRPC to endpoint (host:port) as service,
// and returns the function that flushes and stops it.
func Setup(ctx context.Context, endpoint, service string, insecure bool) (func(context.Context) error, error) {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint)}
	if insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", endpoint, err)
	}
	res, _ := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	return tp.Shutdown, nil
}

// Projected ends, for each change of a committed projection batch, the
// span of its command's trace in that projection (projections.Runner's
// AfterCommit).
func Projected(ctx context.Context, projection string, changes []projections.Change, began, done time.Time) {
	for _, c := range changes {
		tp := c.Event.Meta.TraceParent
		if tp == "" {
			continue
		}
		_, span := Tracer().Start(FromTraceParent(ctx, tp), "caseledger.project", trace.WithTimestamp(began),
			trace.WithAttributes(attribute.String("caseledger.projection", projection), attribute.String("caseledger.event_type", c.Event.Type()),
				attribute.Int64("caseledger.version", c.Record.Version)))
		span.End(trace.WithTimestamp(done))
	}
}
