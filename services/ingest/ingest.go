// Package ingest turns commands on NATS into the record. It consumes
// caseledger.intake.<command> from the INTAKE stream with a durable pull
// consumer, decodes each message strictly, decides it against the case and
// appends the events with the expected version, and acknowledges the message
// only once the append is durable. Every command gets an answer: accepted
// (where its events landed) or rejected with a code, the field and a reason,
// also published on REJECTED with the original message. Nothing is dropped.
//
// Messages are processed in batches so that the store's group commit is
// used; within a batch, each case's messages run in order and different
// cases run concurrently. A redelivered message is absorbed: its events have
// ids derived from the command id and are already in the case.
//
// It never logs or publishes personal data outside the message payloads
// themselves: subjects, headers and errors carry ids, codes and field names.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/internal/writable"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/caseledger/caseledger/services/refusal"
	"github.com/caseledger/caseledger/services/tracing"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Config tunes ingest; zero values take the defaults.
type Config struct {
	Batch    int // most messages handled together (default 512)
	Workers  int // cases processed at once within a batch (default 128)
	Attempts int // decide/append attempts on a concurrent write (default 10)
	MaxBody  int // largest command accepted (default 256 KiB; INTAKE stores up to 1 MiB so larger ones get a structured rejection)
	Cached   int // case states kept in memory (default 20,000)
	Now      func() time.Time
	Logger   *slog.Logger
	// Emitters is the registry every command must be signed against; the
	// command's source_system and its actor's agency must be among the
	// signing emitter's. An unsigned command is refused unauthenticated
	// unless AllowUnsigned is set, when it is recorded with the
	// source_system it claims (a signed one is still checked).
	Emitters      *intake.Registry
	AllowUnsigned bool
	// ObserveAppend, when set, is told how long each durable append took
	// and how many events it wrote (for the metrics).
	ObserveAppend func(d time.Duration, events int)
	// Writable, when set, tells whether the record's storage takes writes
	// (a probe of the data directory): while it fails, no append is tried
	// and commands wait in INTAKE, their senders answered
	// store_unavailable.
	Writable func() error
}

func (c *Config) defaults() {
	if c.Batch <= 0 {
		c.Batch = 512
	}
	if c.Workers <= 0 {
		c.Workers = 128
	}
	if c.Attempts <= 0 {
		c.Attempts = 10
	}
	if c.MaxBody <= 0 {
		c.MaxBody = natsbus.MaxCommandSize
	}
	if c.Cached <= 0 {
		c.Cached = 20_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stats counts what ingest did since it started.
type Stats struct {
	Accepted, Duplicates, Rejected, Retried atomic.Int64
	// OrphansRemoved counts INTAKE messages found below the consumer's
	// acknowledged floor with their commands recorded, and removed.
	OrphansRemoved atomic.Int64
	mu             sync.Mutex
	rejectedBy     map[string]int64
}

func (st *Stats) rejected(code string) {
	st.Rejected.Add(1)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rejectedBy == nil {
		st.rejectedBy = map[string]int64{}
	}
	st.rejectedBy[code]++
}

// RejectedByCode counts rejections by refusal code.
func (st *Stats) RejectedByCode() map[string]int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]int64, len(st.rejectedBy))
	for k, v := range st.rejectedBy {
		out[k] = v
	}
	return out
}

// Service is one ingest worker.
type Service struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	store eventstore.Store
	cfg   Config
	cache *stateCache
	held  heldCases
	turns turns
	// workers bounds the cases handled at once, across overlapping batches;
	// inflight counts them so that Run returns only when all are done.
	workers  chan struct{}
	inflight sync.WaitGroup
	Stats    Stats
	// fault is set while appends fail for a reason that is not the
	// command's (the store full or unwritable) and cleared by the next
	// append that lands.
	fault writable.Fault
}

// New returns an ingest service on a NATS connection and a store. The
// streams must exist (natsbus.EnsureStreams).
func New(nc *nats.Conn, store eventstore.Store, cfg Config) (*Service, error) {
	cfg.defaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("ingest: jetstream: %w", err)
	}
	s := &Service{nc: nc, js: js, store: store, cfg: cfg, cache: newStateCache(cfg.Cached), workers: make(chan struct{}, cfg.Workers)}
	s.fault = writable.Fault{Log: cfg.Logger, What: "ingest's appends to the record", Then: "commands wait in INTAKE and their senders are answered store_unavailable"}
	return s, nil
}

// Fault is the reason ingest cannot record commands now, nil when it can:
// the storage probe's failure or the last append's.
func (s *Service) Fault() error {
	if s.cfg.Writable != nil {
		if err := s.cfg.Writable(); err != nil {
			return err
		}
	}
	return s.fault.Err()
}

// backoff is the redelivery schedule of a message that failed for a reason
// that is not its own (the store unavailable): it waits in INTAKE.
var backoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second}

// Run consumes INTAKE until ctx ends, then drains: it stops pulling,
// finishes the messages already delivered to it, and returns nil.
//
// Messages stream in continuously; a batch is whatever has arrived by the
// time the previous one is done (at least one message, at most Batch), so
// a lone command is handled at once and a flood is handled in large
// group-committed batches.
func (s *Service) Run(ctx context.Context) error {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go s.reconcileEvery(rctx, 30*time.Second)
	for {
		err := s.consume(ctx)
		if ctx.Err() != nil {
			s.inflight.Wait()
			return nil
		}
		// The consumer or its iterator went away (NATS restarted, the
		// consumer was lost): set it up again rather than stop ingesting.
		s.cfg.Logger.Warn("ingest: consumer stopped; setting it up again", "error", err)
		sleep(ctx, 500*time.Millisecond)
	}
}

// reconcileEvery runs Reconcile soon after start and then every interval.
func (s *Service) reconcileEvery(ctx context.Context, every time.Duration) {
	logged := map[uint64]bool{}
	for wait := 5 * time.Second; ; wait = every {
		if sleep(ctx, wait); ctx.Err() != nil {
			return
		}
		if err := s.Reconcile(ctx, logged); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Debug("ingest: INTAKE not reconciled", "error", err)
		}
	}
}

// maxReconcile bounds the messages one Reconcile reads.
const maxReconcile = 10_000

// Reconcile removes orphans from INTAKE: messages below the consumer's
// acknowledged floor, which a work queue removes on acknowledgement but a
// storage fault can leave behind (the acknowledgement stored, the removal
// not). They are never delivered again. One whose command is in the record
// is removed and counted; any other (refused, or unreadable) is logged
// once, by sequence and command id, and kept for the operator.
func (s *Service) Reconcile(ctx context.Context, logged map[uint64]bool) error {
	cons, err := s.js.Consumer(ctx, natsbus.IntakeStream, natsbus.IngestConsumer)
	if err != nil {
		return err
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	st, err := s.js.Stream(ctx, natsbus.IntakeStream)
	if err != nil {
		return err
	}
	si, err := st.Info(ctx)
	if err != nil {
		return err
	}
	floor, first := ci.AckFloor.Stream, si.State.FirstSeq
	if si.State.Msgs == 0 || first > floor {
		return nil
	}
	removed, kept := 0, 0
	for seq := first; seq <= floor && seq < first+maxReconcile && ctx.Err() == nil; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		name, _ := natsbus.CommandOf(m.Subject)
		cmd, derr := domain.DecodeCommand(name, m.Data)
		if derr == nil {
			state, err := s.state(ctx, cmd.Head().CaseID)
			if err != nil {
				return err
			}
			if _, ok := state.Entries[domain.EventID(cmd.Head().CommandID, 0)]; ok {
				if err := st.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
					return err
				}
				removed++
				continue
			}
		}
		kept++
		if !logged[seq] {
			logged[seq] = true
			id := ""
			if derr == nil {
				id = cmd.Head().CommandID.String()
			}
			s.cfg.Logger.Warn("ingest: an acknowledged INTAKE message was left behind and its command is not in the record (refused, or unreadable); kept for the operator",
				"sequence", seq, "command", name, "command_id", id)
		}
	}
	if removed > 0 {
		s.Stats.OrphansRemoved.Add(int64(removed))
		s.cfg.Logger.Info("ingest: removed INTAKE messages left behind by a storage fault; their commands are in the record", "removed", removed, "kept", kept)
	}
	return nil
}

// Preflight checks, before Run, that this identity may read INTAKE: it
// looks the stream and its consumer up, so that credentials of another
// role stop serve at start instead of ingest retrying for ever.
func (s *Service) Preflight(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, natsbus.IntakeStream)
	if err == nil {
		_, err = st.Consumer(ctx, natsbus.IngestConsumer)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			err = nil // made on the first Run
		}
	}
	if err != nil {
		if last := s.nc.LastError(); last != nil {
			err = fmt.Errorf("%w (NATS: %v)", err, last)
		}
		return fmt.Errorf("ingest: cannot read %s with this NATS identity: %w", natsbus.IntakeStream, err)
	}
	return nil
}

// consume runs one consumer until its iterator closes or ctx ends.
func (s *Service) consume(ctx context.Context) error {
	// A new consumer delivers what is left in stream order: what was held
	// for redelivery under the last one is forgotten (its sequences may
	// not come back: INTAKE made anew numbers from 1 again, and a case
	// would wait behind them for ever).
	s.held.reset()
	// Commands of one case must be decided in the order they were sent. A
	// message delivered to an ingest that died stays pending until its ack
	// wait runs out, while newer ones would be delivered at once and
	// overtake it. So a consumer left with pending messages is recreated:
	// INTAKE is a work queue (acknowledged messages are gone), and a new
	// consumer delivers what remains from the oldest, in order. One ingest
	// consumes INTAKE at a time.
	if c, err := s.js.Consumer(ctx, natsbus.IntakeStream, natsbus.IngestConsumer); err == nil {
		if info, err := c.Info(ctx); err == nil && info.NumAckPending > 0 {
			s.cfg.Logger.Warn("ingest: previous consumer left messages unacknowledged; redelivering them in order", "pending", info.NumAckPending)
			if err := s.js.DeleteConsumer(ctx, natsbus.IntakeStream, natsbus.IngestConsumer); err != nil {
				return fmt.Errorf("ingest: reset consumer: %w", err)
			}
		}
	}
	cons, err := s.js.CreateOrUpdateConsumer(ctx, natsbus.IntakeStream, jetstream.ConsumerConfig{
		Durable:       natsbus.IngestConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1, // a message is answered or waits: it is never dropped
		MaxAckPending: 20_000,
		FilterSubject: natsbus.IntakePrefix + ">",
		Description:   "caseledger ingest",
	})
	if err != nil {
		return fmt.Errorf("ingest: consumer: %w", err)
	}
	// A message's ack wait runs from its delivery, so the client-side
	// buffer is kept to one batch.
	// Short pulls with frequent heartbeats: after NATS or its JetStream
	// restarts, a pull the server forgot is noticed within seconds.
	it, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.Batch), jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return fmt.Errorf("ingest: consume: %w", err)
	}
	in := make(chan jetstream.Msg, s.cfg.Batch)
	go func() {
		defer close(in)
		failures := 0
		for {
			m, err := it.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if err != nil {
				// Heartbeats missed while NATS is away: the iterator
				// reconnects by itself. Missed for long (the stream
				// or its consumer made anew after a fault), the
				// consumer is set up again.
				s.cfg.Logger.Warn("ingest: consume", "error", err)
				if failures++; failures >= 10 {
					s.cfg.Logger.Warn("ingest: no message nor heartbeat for long; setting the consumer up again")
					it.Stop()
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			failures = 0
			in <- m
		}
	}()
	stopped := false
	for {
		var first jetstream.Msg
		select {
		case m, ok := <-in:
			if !ok {
				s.inflight.Wait()
				return errors.New("message iterator closed")
			}
			first = m
		case <-ctx.Done():
			if !stopped {
				stopped = true
				it.Drain() // no more pulls; what was delivered still arrives on in
			}
			m, ok := <-in
			if !ok {
				s.inflight.Wait()
				return nil
			}
			first = m
		}
		msgs := []jetstream.Msg{first}
	fill:
		for len(msgs) < s.cfg.Batch {
			select {
			case m, ok := <-in:
				if !ok {
					break fill
				}
				msgs = append(msgs, m)
			default:
				break fill
			}
		}
		// Batches overlap (a case's work still runs in order, see turns),
		// and those in hand finish even when ctx ends: their messages are
		// acknowledged or left for redelivery, never half-done.
		s.process(context.WithoutCancel(ctx), msgs)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// item is one decoded message.
type item struct {
	msg  jetstream.Msg
	name string
	cmd  domain.Command
}

// process handles a batch: refusals straight away, then each case's
// commands in order, cases concurrently.
func (s *Service) process(ctx context.Context, msgs []jetstream.Msg) {
	groups := map[uuid.UUID][]item{}
	var order []uuid.UUID
	for _, m := range msgs {
		it, err := s.decode(m)
		if err != nil {
			s.reject(ctx, m, it.name, err)
			continue
		}
		id := it.cmd.Head().CaseID
		if _, ok := groups[id]; !ok {
			order = append(order, id)
		}
		groups[id] = append(groups[id], it)
	}
	if s.cfg.Writable != nil {
		if err := s.cfg.Writable(); err != nil {
			// Nothing is tried while the storage takes no write: every
			// case's commands wait, in order, for a later delivery.
			for _, id := range order {
				s.retryLater(groups[id], err)
			}
			return
		}
	}
	for _, id := range order {
		items := groups[id]
		// A case's commands in this batch run after those of the batches
		// before it that are still in flight.
		prev, done := s.turns.take(id)
		s.workers <- struct{}{}
		s.inflight.Add(1)
		go func() {
			defer func() { <-s.workers; s.turns.give(id, done); s.inflight.Done() }()
			if prev != nil {
				<-prev
			}
			var ready []item
			for _, it := range items {
				if s.held.holds(id, it.msg) {
					// An older command of this case waits for redelivery:
					// this one waits behind it.
					_ = it.msg.NakWithDelay(backoff[0])
					continue
				}
				ready = append(ready, it)
			}
			for len(ready) > 0 {
				n, ok := s.handleRun(ctx, ready)
				if !ok {
					// Left for redelivery (and held): so are the case's
					// later commands, which must not overtake them.
					for _, it := range ready[n:] {
						s.held.hold(id, it.msg)
						_ = it.msg.NakWithDelay(backoff[0])
					}
					return
				}
				ready = ready[n:]
			}
		}()
	}
}

// turns orders the work on each case across batches in flight: each piece
// of work waits for the one before it on the same case.
type turns struct {
	mu   sync.Mutex
	last map[uuid.UUID]chan struct{}
}

// take returns the channel to wait on (nil when the case is idle) and the
// one to close when done.
func (t *turns) take(id uuid.UUID) (prev <-chan struct{}, done chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[uuid.UUID]chan struct{}{}
	}
	done = make(chan struct{})
	if p, ok := t.last[id]; ok {
		prev = p
	}
	t.last[id] = done
	return prev, done
}

// give closes done and forgets the case if nothing queued behind it.
func (t *turns) give(id uuid.UUID, done chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	close(done)
	if t.last[id] == done {
		delete(t.last, id)
	}
}

// refused is a reason to reject a message before the domain sees it.
type refused struct{ code, field, reason string }

func (r *refused) Error() string { return r.reason }

func (s *Service) decode(m jetstream.Msg) (item, error) {
	name, ok := natsbus.CommandOf(m.Subject())
	if !ok {
		return item{name: "unknown"}, &refused{refusal.BadSubject, "subject", "not caseledger.intake.<command>"}
	}
	if len(m.Data()) > s.cfg.MaxBody {
		return item{name: name}, &refused{refusal.TooLarge, "(body)", fmt.Sprintf("larger than %d bytes", s.cfg.MaxBody)}
	}
	// Who sent it comes before what it says: an unauthenticated message is
	// refused as such, whatever its body.
	var emitter *intake.Emitter
	if m.Headers().Get(intake.HeaderSignature) != "" || !s.cfg.AllowUnsigned {
		if s.cfg.Emitters == nil {
			return item{name: name}, &refused{refusal.Unauthenticated, intake.HeaderSignature, "no emitter is registered: this node takes no signed command"}
		}
		var verr error
		if emitter, verr = s.cfg.Emitters.Verify(m.Subject(), m.Data(), m.Headers()); verr != nil {
			return item{name: name}, &refused{refusal.Unauthenticated, intake.HeaderSignature, "not signed by a registered emitter"}
		}
	}
	cmd, err := domain.DecodeCommand(name, m.Data())
	if errors.Is(err, domain.ErrUnknownCommand) {
		return item{name: "unknown"}, err
	}
	if err == nil && emitter != nil {
		h := cmd.Head()
		if field, ok := emitter.Allows(h.SourceSystem, h.Actor.Agency); !ok {
			return item{name: name}, &refused{refusal.Unauthenticated, field, "not one the signing emitter is registered for"}
		}
	}
	return item{msg: m, name: name, cmd: cmd}, err
}

// handleRun decides as many of a case's commands as it can in a row on the
// case's state and appends all their events in one append, so that a case
// with several commands in a batch costs one durable commit
// (casefile.DecideRun). It stops early at a command that is refused or
// already recorded (answering it), and returns how many commands it
// consumed and false if they were left for redelivery.
func (s *Service) handleRun(ctx context.Context, items []item) (int, bool) {
	caseID := items[0].cmd.Head().CaseID
	cmds := make([]domain.Command, len(items))
	for i, it := range items {
		cmds[i] = it.cmd
	}
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		state, err := s.state(ctx, caseID)
		if err != nil {
			return len(items), s.retryLater(items, err)
		}
		// DecideRun updates the cached state in place; on any failure the
		// cache entry is dropped below.
		var (
			spans     []trace.Span
			appendCtx = ctx
		)
		seal, _ := s.store.(casefile.DigestSealer)
		run := casefile.DecideRunSealed(ctx, state, cmds, s.cfg.Now, func(i int, evs []domain.Event) {
			// The command's trace goes on with its events.
			it := items[i]
			sctx, span := tracing.Tracer().Start(tracing.Extract(ctx, it.msg.Headers()), "caseledger.ingest",
				trace.WithAttributes(attribute.String("caseledger.command", it.name), attribute.String("caseledger.case_id", caseID.String()),
					attribute.String("caseledger.command_id", it.cmd.Head().CommandID.String())))
			spans = append(spans, span)
			if tp := tracing.TraceParent(sctx); tp != "" {
				for j := range evs {
					evs[j].Meta.TraceParent = tp
				}
			}
			if i == 0 {
				appendCtx = sctx
			}
		}, seal)
		if it, o := items[0], run.Outcomes[0]; o.Err != nil || o.Duplicate {
			// The first command was recorded before or is refused: it is
			// answered alone.
			if o.Err != nil {
				s.reject(ctx, it.msg, it.name, o.Err)
			} else {
				s.Stats.Duplicates.Add(1)
				s.answer(it, accepted(it, o))
			}
			return 1, true
		}
		began := time.Now()
		_, aspan := tracing.Tracer().Start(appendCtx, "caseledger.append", trace.WithAttributes(attribute.Int("caseledger.events", len(run.Events))))
		res, err := run.Append(ctx, s.store)
		aspan.End()
		for _, sp := range spans {
			if err != nil {
				sp.SetStatus(codes.Error, "not recorded yet")
			}
			sp.End()
		}
		if err == nil {
			s.fault.ClearAfter(began)
			if s.cfg.ObserveAppend != nil {
				s.cfg.ObserveAppend(time.Since(began), len(run.Events))
			}
		}
		if err != nil || res.Duplicate {
			// The cached state moved ahead of the store (or behind it):
			// start again from the store.
			s.cache.drop(caseID)
			if err == nil || errors.Is(err, eventstore.ErrWrongVersion) {
				continue
			}
			s.fault.Set(err.Error())
			return len(items), s.retryLater(items, err)
		}
		s.cache.put(caseID, run.State)
		for i, o := range run.Outcomes {
			s.Stats.Accepted.Add(1)
			s.answer(items[i], accepted(items[i], o))
		}
		return len(run.Outcomes), true
	}
	return len(items), s.retryLater(items, errors.New("too many concurrent writers on the case"))
}

// state returns the case's state from the cache or the store.
func (s *Service) state(ctx context.Context, caseID uuid.UUID) (domain.State, error) {
	if st, ok := s.cache.get(caseID); ok {
		return st, nil
	}
	st, _, err := casefile.Load(ctx, s.store, caseID)
	if err != nil {
		return domain.State{}, err
	}
	s.cache.put(caseID, st)
	return st, nil
}

// retryLater leaves messages in INTAKE for a later delivery, waiting longer
// each time they come back, and holds back the case's newer commands until
// the oldest of them is handled.
func (s *Service) retryLater(items []item, err error) bool {
	msgs := make([]jetstream.Msg, len(items))
	for i, it := range items {
		msgs[i] = it.msg
	}
	s.held.hold(items[0].cmd.Head().CaseID, msgs...)
	faulted := s.Fault() != nil
	for _, it := range items {
		s.Stats.Retried.Add(1)
		n := 0
		if md, merr := it.msg.Metadata(); merr == nil {
			n = int(md.NumDelivered) - 1
		}
		delay := backoff[min(max(n, 0), len(backoff)-1)]
		if faulted {
			delay = min(delay, 5*time.Second) // resume soon after the storage does
		}
		_ = it.msg.NakWithDelay(delay)
	}
	if faulted {
		// The store cannot be written: the fault is logged once (see
		// Fault) and each sender is told its command waits.
		for _, it := range items {
			h := it.cmd.Head()
			s.reply(it.msg, natsbus.Outcome{Command: it.name, CommandID: h.CommandID.String(), CaseID: h.CaseID.String(),
				Code: refusal.StoreUnavailable, Reason: "the record cannot be written now; the command is kept and will be recorded", Retrying: true})
		}
		return false
	}
	h := items[0].cmd.Head()
	s.cfg.Logger.Warn("ingest: commands left for redelivery",
		"count", len(items), "case_id", h.CaseID, "first_command_id", h.CommandID, "error", err)
	return false
}

// accepted is the answer to a command whose events are in the case.
func accepted(it item, o casefile.Outcome) natsbus.Outcome {
	h := it.cmd.Head()
	out := natsbus.Outcome{Accepted: true, Command: it.name, CommandID: h.CommandID.String(), CaseID: h.CaseID.String(),
		Stream: domain.StreamName(h.CaseID), FirstVersion: o.FirstVersion, LastVersion: o.LastVersion, Duplicate: o.Duplicate}
	for _, id := range o.EventIDs {
		out.EventIDs = append(out.EventIDs, id.String())
	}
	return out
}

// answer replies to the sender, if it asked, then acknowledges the message.
// The reply goes first: a crash in between redelivers the message, which is
// then absorbed and answered again.
func (s *Service) answer(it item, o natsbus.Outcome) {
	s.reply(it.msg, o)
	if err := it.msg.Ack(); err != nil {
		// The append is durable; a lost ack means a redelivery, absorbed.
		s.cfg.Logger.Warn("ingest: ack failed", "command_id", o.CommandID, "error", err)
	}
}

func (s *Service) reply(m jetstream.Msg, o natsbus.Outcome) {
	to := m.Headers().Get(natsbus.HeaderReplyTo)
	if !natsbus.IsInbox(to) {
		// Only an inbox is answered: a reply address is the sender's
		// word, and ingest must never publish where a stream would keep
		// it (an event stream, the checkpoints) or another role listens.
		return
	}
	b, err := json.Marshal(o)
	if err != nil {
		return
	}
	_ = s.nc.Publish(to, b)
}

// reject answers a refused command, files it on REJECTED with the reason
// beside the original message, and acknowledges it. If REJECTED cannot take
// it, the message stays in INTAKE for a later attempt: a rejection is never
// lost either.
func (s *Service) reject(ctx context.Context, m jetstream.Msg, name string, cause error) {
	// A refused message is not redelivered: if its case held it, the case
	// must not wait for it.
	s.held.forget(seq(m))
	var code, field, reason string
	var r *refused
	if errors.As(cause, &r) {
		code, field, reason = r.code, r.field, r.reason
	} else if c, f, why, ok := refusal.Describe(cause); ok {
		code, field, reason = c, f, why
	} else {
		code, reason = "malformed", "could not be read"
	}
	o := natsbus.Outcome{Accepted: false, Command: name, Code: code, Field: field, Reason: reason}
	var head struct {
		CaseID    string `json:"case_id"`
		CommandID string `json:"command_id"`
	}
	if json.Unmarshal(m.Data(), &head) == nil {
		if id, err := uuid.Parse(head.CommandID); err == nil {
			o.CommandID = id.String()
		}
		if id, err := uuid.Parse(head.CaseID); err == nil {
			o.CaseID = id.String()
		}
	}
	dead := &nats.Msg{Subject: natsbus.RejectedPrefix + name, Data: m.Data(), Header: nats.Header{}}
	dead.Header.Set(natsbus.HeaderCode, code)
	dead.Header.Set(natsbus.HeaderField, field)
	dead.Header.Set(natsbus.HeaderReason, reason)
	dead.Header.Set("Caseledger-Subject", m.Subject())
	if md, err := m.Metadata(); err == nil {
		// One rejection per INTAKE message, whatever the redeliveries; the
		// time it was stored tells it from a message of an INTAKE made
		// anew, whose sequences start from 1 again.
		dead.Header.Set(nats.MsgIdHdr, fmt.Sprintf("intake-%d-%d", md.Sequence.Stream, md.Timestamp.UnixNano()))
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ack, err := s.js.PublishMsg(pctx, dead)
	if err != nil {
		s.cfg.Logger.Warn("ingest: REJECTED unavailable; command left in INTAKE", "command", name, "error", err)
		_ = m.NakWithDelay(backoff[1])
		return
	}
	if !ack.Duplicate { // a redelivered message is filed once
		s.Stats.rejected(code)
	}
	s.reply(m, o)
	_ = m.Ack()
}

// stateCache keeps recently used case states so that a busy case is not
// reloaded for every command. Only one goroutine handles a case at a time
// (process groups by case), and a stale entry is caught by the expected
// version on append, which drops it.
type stateCache struct {
	mu  sync.Mutex
	max int
	m   map[uuid.UUID]domain.State
}

func newStateCache(max int) *stateCache {
	return &stateCache{max: max, m: map[uuid.UUID]domain.State{}}
}

func (c *stateCache) get(id uuid.UUID) (domain.State, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[id]
	return s, ok
}

func (c *stateCache) put(id uuid.UUID, s domain.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m) // bounded: start over rather than track recency
	}
	c.m[id] = s
}

func (c *stateCache) drop(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// heldCases remembers, per case, the INTAKE sequences of commands sent back
// for redelivery. Until they are handled, oldest first, every other command
// of the case is sent back too, so that none overtakes another.
type heldCases struct {
	mu sync.Mutex
	m  map[uuid.UUID][]uint64 // sorted
}

func seq(m jetstream.Msg) uint64 {
	md, err := m.Metadata()
	if err != nil {
		return 0
	}
	return md.Sequence.Stream
}

func (h *heldCases) hold(id uuid.UUID, msgs ...jetstream.Msg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[uuid.UUID][]uint64{}
	}
	for _, m := range msgs {
		n := seq(m)
		if i, found := slices.BinarySearch(h.m[id], n); !found {
			h.m[id] = slices.Insert(h.m[id], i, n)
		}
	}
}

// reset forgets every held sequence.
func (h *heldCases) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.m)
}

// forget drops a sequence from whichever case holds it.
func (h *heldCases) forget(n uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, held := range h.m {
		if i, found := slices.BinarySearch(held, n); found {
			if held = slices.Delete(held, i, i+1); len(held) == 0 {
				delete(h.m, id)
			} else {
				h.m[id] = held
			}
		}
	}
}

// holds reports whether m must go back to wait: its case has commands sent
// back and m is not the oldest of them. The oldest is let through (and
// forgotten: if it fails again, it is held anew).
func (h *heldCases) holds(id uuid.UUID, m jetstream.Msg) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	held := h.m[id]
	if len(held) == 0 {
		return false
	}
	n := seq(m)
	if n <= held[0] {
		if n == held[0] {
			held = held[1:]
		}
		if len(held) == 0 {
			delete(h.m, id)
		} else {
			h.m[id] = held
		}
		return false
	}
	if i, found := slices.BinarySearch(held, n); !found {
		h.m[id] = slices.Insert(held, i, n)
	}
	return true
}
