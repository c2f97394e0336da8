// Package relay publishes every committed case event to NATS: it follows
// the store's global subscription and publishes each event of a case stream
// to caseledger.events.<compartment>.<caseID>.<type>, in the stream of its
// compartment (CASE_EVENTS_POLICE, _SOCIAL_WORK, _SHARED), with the event id
// as Nats-Msg-Id, so dashboards and other services get a live feed and each
// reader identity gets only the compartments it may read. A sealed entry is
// published to CASE_EVENTS_SEALED as its envelope only: ids, type, version
// and hashes, never its payload or metadata.
//
// The checkpoint is the event streams themselves: each message carries its
// position in the store's log (Caseledger-Position), and on start the relay
// resumes after the latest last message of the four. Publishing is in order
// and one at a time, so that message is always the end of an unbroken
// prefix; the event id as message id drops a re-publish after a crash
// between the store's ack and our own bookkeeping. Nothing is lost and
// nothing is published twice.
//
// Subjects carry the compartment, the case id and the event type only.
//
// It never writes to the record: it reads the global log and nothing else,
// so a relay that is down or behind delays the feed, never the record. It
// never re-encodes what it publishes (subscribers check the exact stored
// bytes against the chain), never skips an event it could not publish (it
// waits for NATS instead), and never logs event contents: ids only. Events
// are routed by the compartment recorded in their metadata at the time they
// were committed; an entry reclassified later (redacted, moved to sealed)
// was already published where it then belonged.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/internal/writable"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/caseledger/caseledger/services/tracing"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Message is the JSON body of a relayed event: the stored record, with the
// exact stored bytes of its data and metadata, and its chain link, so a
// subscriber can check what it receives.
type Message struct {
	ID         string    `json:"id"`
	CaseID     string    `json:"case_id"`
	Stream     string    `json:"stream"`
	Version    int64     `json:"version"`
	Position   string    `json:"position"`
	Type       string    `json:"type"`
	RecordedAt time.Time `json:"recorded_at"`
	// Compartment is the event's compartment, as its subject says.
	Compartment string `json:"compartment"`
	// Metadata and Data are absent from a sealed entry's envelope.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// Service is the relay.
type Service struct {
	js        jetstream.JetStream
	store     eventstore.Reader
	log       *slog.Logger
	Published atomic.Int64
	Position  atomic.Value // eventstore.Position of the last event published
	// fault is set while NATS does not store what the relay publishes (a
	// stream's store full, JetStream down) and cleared by the next publish
	// that lands.
	fault writable.Fault
}

// Fault is why the relay cannot publish now, nil when it can.
func (s *Service) Fault() error { return s.fault.Err() }

// New returns a relay between a store and NATS. The streams must exist.
func New(nc *nats.Conn, store eventstore.Reader, log *slog.Logger) (*Service, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("relay: jetstream: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rl := &Service{js: js, store: store, log: log}
	rl.fault = writable.Fault{Log: log, What: "the relay's publishes to the event streams", Then: "events wait in the record and are relayed, in order, once NATS stores again"}
	return rl, nil
}

// Checkpoint reads the position of the last event relayed: the latest of
// the event streams' last messages.
func (s *Service) Checkpoint(ctx context.Context) (eventstore.Position, error) {
	last := eventstore.Start
	for _, c := range natsbus.EventCompartments {
		name := natsbus.EventStream(c)
		st, err := s.js.Stream(ctx, name)
		if err != nil {
			return eventstore.Position{}, fmt.Errorf("relay: %w", err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return eventstore.Position{}, fmt.Errorf("relay: %w", err)
		}
		if info.State.Msgs == 0 {
			continue
		}
		// The last message the relay published: one without a position
		// was put there by someone else (it is logged and stepped over,
		// never taken for the relay's own).
		var p eventstore.Position
		found, foreign := false, 0
		for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0; seq-- {
			m, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return eventstore.Position{}, fmt.Errorf("relay: read message %d of %s: %w", seq, name, err)
			}
			if p, err = eventstore.ParsePosition(m.Header.Get(natsbus.HeaderPosition)); err == nil && m.Header.Get(nats.MsgIdHdr) != "" {
				found = true
				break
			}
			foreign++
		}
		if foreign > 0 {
			s.log.Warn("relay: messages the relay did not publish are at the end of an event stream; stepped over", "stream", name, "messages", foreign)
		}
		if !found {
			continue
		}
		if last.Less(p) {
			last = p
		}
	}
	return last, nil
}

// Run relays until ctx ends (returning nil). A NATS outage pauses it; it
// resumes from the checkpoint.
func (s *Service) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		after, err := s.Checkpoint(ctx)
		if err == nil {
			err = s.store.SubscribeAll(ctx, after, func(r eventstore.Record) error { return s.publish(ctx, r) })
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("relay: paused; resuming from the checkpoint", "error", err)
		sleep(ctx, 500*time.Millisecond)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// publish relays one record, retrying a while when NATS does not answer.
func (s *Service) publish(ctx context.Context, r eventstore.Record) error {
	caseID, err := casefile.CaseID(r.Stream)
	if err != nil {
		return nil // access and ledger streams are not case events
	}
	// The compartment and trace context, kept in the event's metadata.
	var meta struct {
		Compartment domain.Compartment `json:"compartment"`
		TraceParent string             `json:"traceparent"`
	}
	_ = json.Unmarshal(r.Metadata, &meta)
	if !slices.Contains(natsbus.EventCompartments, meta.Compartment) {
		// Without a known compartment, nothing of it goes out but its
		// envelope.
		meta.Compartment = domain.CompartmentSealed
	}
	msg := Message{
		ID: r.ID.String(), CaseID: caseID.String(), Stream: r.Stream, Version: r.Version,
		Position: r.Position.String(), Type: r.Type, RecordedAt: r.RecordedAt, Compartment: string(meta.Compartment),
		PrevHash: r.PrevHash.String(), Hash: r.Hash.String(),
	}
	if meta.Compartment != domain.CompartmentSealed {
		msg.Metadata, msg.Data = rawOrNull(r.Metadata), rawOrNull(r.Data)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("relay: encode %s: %w", r.ID, err)
	}
	m := &nats.Msg{Subject: natsbus.EventSubject(meta.Compartment, caseID.String(), r.Type), Data: body, Header: nats.Header{}}
	m.Header.Set(nats.MsgIdHdr, r.ID.String())
	m.Header.Set(natsbus.HeaderPosition, r.Position.String())
	m.Header.Set("Caseledger-Version", strconv.FormatInt(r.Version, 10))
	// The command's trace goes on here.
	sctx, span := tracing.Tracer().Start(tracing.FromTraceParent(ctx, meta.TraceParent), "caseledger.relay",
		trace.WithAttributes(attribute.String("caseledger.event_type", r.Type), attribute.String("caseledger.case_id", caseID.String())))
	defer span.End()
	tracing.Inject(sctx, m.Header)
	wait := 250 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.js.PublishMsg(pctx, m)
		cancel()
		if err == nil {
			s.fault.Clear()
			s.Published.Add(1)
			s.Position.Store(r.Position)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Whatever NATS says (no answer, store full, JetStream down), the
		// event is retried in place: the fault is logged once and shown by
		// /readyz, and nothing behind it overtakes it.
		s.fault.Set(err.Error())
		s.log.Debug("relay: publish failed; retrying", "event_id", r.ID, "error", err)
		sleep(ctx, wait)
		wait = min(2*wait, 2*time.Second)
	}
}

func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}
