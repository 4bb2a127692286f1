package http

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are Tandem's Prometheus metrics, on their own registry.
type Metrics struct {
	Registry      *prometheus.Registry
	RunsStarted   *prometheus.CounterVec   // job
	RunsFinished  *prometheus.CounterVec   // job, status
	NodeDuration  *prometheus.HistogramVec // kind, status
	FreshnessLag  *prometheus.GaugeVec     // node, kind
	QueueDepth    prometheus.Gauge
	AlertOutcomes *prometheus.CounterVec // outcome
	HTTP          *prometheus.HistogramVec
	Events        *prometheus.CounterVec // outcome: accepted, quarantined, duplicate
	LoaderLag     prometheus.Gauge
	Loaded        prometheus.Counter
	EndToEnd      prometheus.Histogram
	DeadLetters   prometheus.Counter
	Requests      *prometheus.CounterVec // method, route, code: every route, the collector's included
	Panics        prometheus.Counter
}

// NewMetrics registers every metric.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		RunsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_runs_started_total",
			Help: "Runs started, by job (adhoc for API runs)."}, []string{"job"}),
		RunsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_runs_finished_total",
			Help: "Runs finished, by job and status (success, error)."}, []string{"job", "status"}),
		NodeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tandem_node_duration_seconds",
			Help: "Time to build or test one node.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"kind", "status"}),
		FreshnessLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tandem_freshness_lag_seconds",
			Help: "Age of the newest data of a source, or of a model's last successful build."}, []string{"node", "kind"}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tandem_run_queue_depth", Help: "Runs waiting to start."}),
		AlertOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_alert_deliveries_total",
			Help: "Alert deliveries by outcome (sent, failed, dropped, unrouted)."}, []string{"outcome"}),
		HTTP: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tandem_http_request_duration_seconds",
			Help: "API request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"method", "route"}),
	}
	m.Events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_collect_events_total",
		Help: "Events the collector received, by outcome (accepted, quarantined, duplicate)."}, []string{"outcome"})
	m.LoaderLag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tandem_collect_loader_lag_records", Help: "Records in the event log not yet loaded into the warehouse."})
	m.EndToEnd = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tandem_collect_end_to_end_seconds",
		Help:    "From an event's arrival at the collector to its commit in the warehouse.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2, 3, 4, 5, 7.5, 10, 15, 30, 60, 120}})
	m.Loaded = prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_collect_loaded_total", Help: "Records loaded into the warehouse (events and quarantined)."})
	m.DeadLetters = prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_collect_dead_letters_total",
		Help: "Event log records the warehouse refused, set aside in events.dead_letter."})
	m.Requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_http_requests_total",
		Help: "HTTP requests by method, route and status code, the collector's included."}, []string{"method", "route", "code"})
	m.Panics = prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_http_panics_total", Help: "Handler panics answered with 500."})
	m.Registry.MustRegister(m.Events, m.LoaderLag, m.Loaded, m.EndToEnd, m.DeadLetters, m.Requests, m.Panics)
	m.Registry.MustRegister(m.RunsStarted, m.RunsFinished, m.NodeDuration, m.FreshnessLag, m.QueueDepth, m.AlertOutcomes, m.HTTP,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
