package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pact-findmy/pact-findmy/internal/harvest"
)

// Register registers the pipeline's Prometheus metrics with reg: reports
// by kind, frame errors, sightings below the minimum RSSI, the adapter
// state and, with a database, rows written and transactions. The names
// are those findmy-harvester has always served (docs/findmy-harvester.md).
func (p *Pipeline) Register(reg prometheus.Registerer) error {
	var cs []prometheus.Collector
	for k := harvest.Kind(0); k < harvest.NumKinds; k++ {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "findmy_harvester_reports_total", Help: "Advertising reports by kind.",
			ConstLabels: prometheus.Labels{"kind": k.String()},
		}, func() float64 { c := p.h.Counts(); return float64(c[k]) }))
	}
	cs = append(cs,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findmy_harvester_frame_errors_total", Help: "Capture records and HCI events skipped as malformed."},
			func() float64 {
				if src := p.source(); src != nil {
					return float64(src.FrameErrors())
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findmy_harvester_below_min_rssi_total", Help: "Sightings dropped by --min-rssi."},
			func() float64 { return float64(p.weak.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "findmy_harvester_scanning", Help: "1 while the adapter scans."},
			func() float64 {
				if src := p.source(); src != nil && src.Scanning() {
					return 1
				}
				return 0
			}),
	)
	if p.store != nil {
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findmy_harvester_rows_written_total", Help: "Distinct (chirp, minute) sightings written to the contact log."},
				func() float64 { return float64(p.store.rows.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "findmy_harvester_transactions_total", Help: "Contact log transactions committed."},
				func() float64 { return float64(p.store.batches.Load()) }),
		)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering ingest metrics: %w", err)
		}
	}
	return nil
}

// source is the source of the run; nil before Run.
func (p *Pipeline) source() Source {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	return p.src
}
