package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/api"
	"github.com/caseledger/caseledger/services/ingest"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/caseledger/caseledger/services/relay"
	"github.com/prometheus/client_golang/prometheus"
)

// Sources are the running roles whose figures the metrics page shows; a
// role not running in the process is nil.
type Sources struct {
	Store  eventstore.Reader
	Ingest *ingest.Service
	Relay  *relay.Service
	API    *api.Server
	Ledger *ledger.Service
}

var (
	ingestCommands = prometheus.NewDesc("caseledger_ingest_commands_total",
		"Commands ingest handled, by outcome (accepted, duplicate, rejected, retried).", []string{"outcome"}, nil)
	ingestRejected = prometheus.NewDesc("caseledger_ingest_rejected_total",
		"Commands rejected, by refusal code.", []string{"code"}, nil)
	intakeOrphans = prometheus.NewDesc("caseledger_intake_orphans_removed_total",
		"INTAKE messages a storage fault left behind below ingest's acknowledged floor, with their commands in the record, removed since start.", nil, nil)
	relayPublished = prometheus.NewDesc("caseledger_relay_published_events_total",
		"Events the relay published on the event streams since it started.", nil, nil)
	relayLagEvents = prometheus.NewDesc("caseledger_relay_lag_events",
		"Case events recorded and not yet relayed, counted up to 10,000 (caseledger_relay_lag_capped says when the count stopped there).", nil, nil)
	relayLagCapped = prometheus.NewDesc("caseledger_relay_lag_capped",
		"1 when the relay is at least 10,000 records behind and caseledger_relay_lag_events is a lower bound; 0 otherwise.", nil, nil)
	relayLagSeconds = prometheus.NewDesc("caseledger_relay_lag_seconds",
		"Age of the oldest event recorded and not yet relayed; 0 when caught up (exact, whatever the cap).", nil, nil)
	accessWrites = prometheus.NewDesc("caseledger_access_records_total",
		"Access records the API appended (written) or could not (failed: the read was refused).", []string{"result"}, nil)
	ledgerCheckpointAge = prometheus.NewDesc("caseledger_ledger_checkpoint_age_seconds",
		"Time since this process last signed a ledger checkpoint.", nil, nil)
	checkpointSize = prometheus.NewDesc("caseledger_ledger_checkpoint_size",
		"Leaves covered by the last signed checkpoint.", nil, nil)
	ledgerLeaves = prometheus.NewDesc("caseledger_ledger_leaves",
		"Leaves in the Merkle log.", nil, nil)
)

type roles struct {
	Sources
	now func() time.Time
}

func (r roles) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ingestCommands, ingestRejected, intakeOrphans, relayPublished, relayLagEvents, relayLagCapped, relayLagSeconds, accessWrites, ledgerCheckpointAge, checkpointSize, ledgerLeaves} {
		ch <- d
	}
}

func (r roles) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if in := r.Ingest; in != nil {
		for outcome, v := range map[string]int64{"accepted": in.Stats.Accepted.Load(), "duplicate": in.Stats.Duplicates.Load(),
			"rejected": in.Stats.Rejected.Load(), "retried": in.Stats.Retried.Load()} {
			ch <- prometheus.MustNewConstMetric(ingestCommands, prometheus.CounterValue, float64(v), outcome)
		}
		ch <- prometheus.MustNewConstMetric(intakeOrphans, prometheus.CounterValue, float64(in.Stats.OrphansRemoved.Load()))
		byCode := in.Stats.RejectedByCode()
		codes := make([]string, 0, len(byCode))
		for c := range byCode {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for _, c := range codes {
			ch <- prometheus.MustNewConstMetric(ingestRejected, prometheus.CounterValue, float64(byCode[c]), c)
		}
	}
	if rl := r.Relay; rl != nil {
		ch <- prometheus.MustNewConstMetric(relayPublished, prometheus.CounterValue, float64(rl.Published.Load()))
		// The relay's last published position, once it has published; the
		// streams only before.
		var (
			at  eventstore.Position
			err error
		)
		if p, ok := rl.Position.Load().(eventstore.Position); ok {
			at = p
		} else {
			at, err = rl.Checkpoint(ctx)
		}
		if err != nil {
			ch <- prometheus.NewInvalidMetric(relayLagEvents, err)
		} else if events, capped, age, err := relayLag(ctx, r.Store, at, r.now()); err != nil {
			ch <- prometheus.NewInvalidMetric(relayLagEvents, err)
		} else {
			ch <- prometheus.MustNewConstMetric(relayLagEvents, prometheus.GaugeValue, float64(events))
			flag := 0.0
			if capped {
				flag = 1
			}
			ch <- prometheus.MustNewConstMetric(relayLagCapped, prometheus.GaugeValue, flag)
			ch <- prometheus.MustNewConstMetric(relayLagSeconds, prometheus.GaugeValue, age.Seconds())
		}
	}
	if a := r.API; a != nil {
		ch <- prometheus.MustNewConstMetric(accessWrites, prometheus.CounterValue, float64(a.AccessWritten.Load()), "written")
		ch <- prometheus.MustNewConstMetric(accessWrites, prometheus.CounterValue, float64(a.AccessFailed.Load()), "failed")
	}
	if l := r.Ledger; l != nil {
		ch <- prometheus.MustNewConstMetric(ledgerLeaves, prometheus.GaugeValue, float64(l.Log.Size()))
		if c, ok := l.Last(); ok {
			ch <- prometheus.MustNewConstMetric(checkpointSize, prometheus.GaugeValue, float64(c.Size))
		}
		if at := l.SignedAt(); !at.IsZero() {
			ch <- prometheus.MustNewConstMetric(ledgerCheckpointAge, prometheus.GaugeValue, r.now().Sub(at).Seconds())
		}
	}
}

// lagCap is how many records relayLag reads at most.
const lagCap = 10_000

// relayLag counts the case events after the relay's position (it relays
// only those: access records and checkpoints are never relayed), reading
// at most lagCap records (capped reports that it stopped there), and the
// age of the first.
func relayLag(ctx context.Context, st eventstore.Reader, after eventstore.Position, now time.Time) (n int64, capped bool, age time.Duration, err error) {
	page, err := st.ReadAll(ctx, after, lagCap)
	if err != nil {
		return 0, false, 0, err
	}
	capped = len(page) == lagCap
	for _, r := range page {
		if _, ok := domain.CaseIDOf(r.Stream); !ok {
			continue
		}
		if n == 0 {
			age = max(0, now.Sub(r.RecordedAt))
		}
		n++
	}
	return n, capped, age, nil
}

// RegisterRoles adds the running roles' counters and lags, read at scrape.
func RegisterRoles(reg prometheus.Registerer, src Sources, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	return reg.Register(roles{Sources: src, now: now})
}

// AppendLatency is the histogram of ingest's durable appends; its Observe
// method is ingest.Config.ObserveAppend.
type AppendLatency struct{ h *prometheus.HistogramVec }

// NewAppendLatency registers the append latency histogram.
func NewAppendLatency(reg prometheus.Registerer) (*AppendLatency, error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "caseledger_append_seconds",
		Help:    "Time for ingest's durable append of one case's commands (group commit included).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, nil)
	if err := reg.Register(h); err != nil {
		return nil, err
	}
	return &AppendLatency{h: h}, nil
}

// Observe records one append.
func (a *AppendLatency) Observe(d time.Duration, _ int) { a.h.WithLabelValues().Observe(d.Seconds()) }

// Check is one readiness condition: a connection the role needs.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Health serves /healthz (the process answers) and /readyz (every check
// passes; else 503 naming those that failed).
func Health(mux *http.ServeMux, checks []Check) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"alive":true}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		out := map[string]string{}
		ready := true
		for _, c := range checks {
			if err := c.Fn(ctx); err != nil {
				out[c.Name] = err.Error()
				ready = false
			} else {
				out[c.Name] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ready, "checks": out})
	})
}

// checkGauges reports each readiness check as caseledger_ready{check}, 1
// when it passes, so that a dashboard sees what /readyz says.
type checkGauges []Check

var readyDesc = prometheus.NewDesc("caseledger_ready",
	"1 when the readiness check passes, 0 when /readyz names it as failing.", []string{"check"}, nil)

func (c checkGauges) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

func (c checkGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, k := range c {
		v := 1.0
		if k.Fn(ctx) != nil {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, v, k.Name)
	}
}

// RegisterChecks exports the readiness checks as caseledger_ready.
func RegisterChecks(reg prometheus.Registerer, checks []Check) error {
	return reg.Register(checkGauges(checks))
}
