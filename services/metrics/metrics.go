// Package metrics exposes caseledger's Prometheus metrics. Labels carry
// names of projections, roles and refusal codes only: never an id of a
// person, and never case data.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/caseledger/caseledger/projections"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime's and the process's
// own metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the registry in Prometheus' text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

var (
	lagEvents = prometheus.NewDesc("caseledger_projection_lag_events",
		"Events recorded after the projection's checkpoint.", []string{"projection"}, nil)
	lagSeconds = prometheus.NewDesc("caseledger_projection_lag_seconds",
		"Age of the oldest event the projection has not applied; 0 when caught up.", []string{"projection"}, nil)
	checkpointAge = prometheus.NewDesc("caseledger_projection_checkpoint_age_seconds",
		"Time since the projection's checkpoint last moved.", []string{"projection"}, nil)
	applied = prometheus.NewDesc("caseledger_projection_applied_events_total",
		"Events applied by this process's projection runner since it started.", []string{"projection"}, nil)
)

// projectionLag measures each runner's lag when scraped, so the figure is
// never older than the scrape.
type projectionLag struct {
	runners []*projections.Runner
	now     func() time.Time
}

func (p projectionLag) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagEvents
	ch <- lagSeconds
	ch <- checkpointAge
	ch <- applied
}

func (p projectionLag) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := p.now()
	for _, r := range p.runners {
		name := r.Name()
		ch <- prometheus.MustNewConstMetric(applied, prometheus.CounterValue, float64(r.Applied.Load()), name)
		lag, err := r.Lag(ctx, now)
		if err != nil {
			// The scrape says the figure is missing rather than showing 0.
			ch <- prometheus.NewInvalidMetric(lagEvents, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(lagEvents, prometheus.GaugeValue, float64(lag.Events), name)
		ch <- prometheus.MustNewConstMetric(lagSeconds, prometheus.GaugeValue, lag.Age.Seconds(), name)
		if !lag.Checkpointed.IsZero() {
			ch <- prometheus.MustNewConstMetric(checkpointAge, prometheus.GaugeValue, max(0, now.Sub(lag.Checkpointed).Seconds()), name)
		}
	}
}

// RegisterProjections adds the lag of each runner, measured at scrape.
func RegisterProjections(reg prometheus.Registerer, runners []*projections.Runner, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	return reg.Register(projectionLag{runners: runners, now: now})
}
