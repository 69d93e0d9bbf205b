package server

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	uploads        *prometheus.CounterVec
	uploadSeconds  prometheus.Histogram
	uploadedTuples prometheus.Counter
	batchesCut     prometheus.Counter
	cutSeconds     prometheus.Histogram
	requests       *prometheus.CounterVec
	proofsVerified prometheus.Counter
	proofsRefused  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pact_uploads_total", Help: "Upload requests by result.",
		}, []string{"result"}),
		uploadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pact_upload_duration_seconds", Help: "Time to validate and store an upload.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		uploadedTuples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pact_uploaded_tuples_total", Help: "Tuples stored by accepted uploads.",
		}),
		batchesCut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pact_batches_cut_total", Help: "Exposure batches cut and signed.",
		}),
		cutSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pact_batch_cut_duration_seconds", Help: "Time of one cut of all pending periods.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pact_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
		proofsVerified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pact_findmy_proofs_verified_total", Help: "Find My proofs of possession verified (docs/findmy.md §8.3).",
		}),
		proofsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pact_findmy_proofs_refused_total", Help: "Find My proofs of possession that did not verify.",
		}),
	}
	for _, c := range []prometheus.Collector{m.uploads, m.uploadSeconds, m.uploadedTuples, m.batchesCut, m.cutSeconds, m.requests, m.proofsVerified, m.proofsRefused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
}

// MetricsHandler serves the Prometheus metrics. It is not part of
// Handler: upload counters that move the second an upload is stored would
// tell anyone who polls them which observed upload succeeded, undoing the
// constant-size responses. Serve it on a private address.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{})
}
