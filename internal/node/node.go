// Package node is the PACT node that `pact-bridge run` starts on a Linux
// host (issue 8): it chirps through an adapter, listens on the same
// adapter (native PACT chirps and Find My keys alike reach the contact
// log), syncs exposure batches from the servers it was given, matches them,
// tells its owner about new exposures, runs the diagnosed owner's share
// flow, and serves the dashboard (web.Backend).
//
// Data flows one way: adapter -> ingest -> device database (contact log)
// -> matchers <- exposure batches (exposuresync). The node opens no
// connection but to the exposure servers it was given, and sends nothing
// but chirps before its owner confirms a share.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/exposuresync"
	"github.com/pact-findmy/pact-findmy/internal/findmymatch"
	"github.com/pact-findmy/pact-findmy/internal/ingest"
	"github.com/pact-findmy/pact-findmy/internal/share"
	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/web"
)

// DBFile is the device database's name inside the data directory.
const DBFile = "device.db"

// Defaults of Config.
const (
	DefaultSyncEvery = 10 * time.Minute
	// expireEvery is how often retention runs on a running node.
	expireEvery = time.Hour
)

// ErrConfig is wrapped by every configuration error of Open.
var ErrConfig = errors.New("node configuration")

// Config configures a node.
type Config struct {
	// DataDir holds the device database (created 0700 if missing).
	DataDir string
	// Servers are the exposure servers given on the command line; the
	// owner may add more in the settings.
	Servers []exposuresync.Server
	// Region is the region a share is published in.
	Region string
	// Proxy is a socks5:// URL every connection to a server goes through
	// (Tor, for example), so that no server sees the device's address.
	Proxy string
	// SyncEvery is how often the node syncs (DefaultSyncEvery when 0).
	SyncEvery time.Duration
	// OnExposure is a shell command run with a JSON ExposureNotice on its
	// standard input when a sync finds a new exposure.
	OnExposure string
	// Clock is the wall clock unless set (the demo and tests move it).
	Clock  pact.Clock
	Logger *slog.Logger
}

// Node is a running PACT node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	clock    pact.Clock
	db       *devicedb.DB
	seeds    *pact.SeedLog
	contacts *pact.ContactLog
	stats    *web.DeviceStats
	findMy   *findmymatch.Matcher
	tracker  *share.Tracker
	notifier *Notifier

	mu       sync.Mutex
	servers  []exposuresync.Server // flags, then settings
	hc       *http.Client
	syncer   *exposuresync.Syncer
	sharer   *share.Service
	chirper  *Chirper
	listener *ingest.Pipeline
	adapter  web.Adapter
	syncMu   sync.Mutex // one sync at a time
}

// Open opens the node's database in cfg.DataDir and applies the stored
// settings. Nothing is sent or broadcast until Run, SyncNow or a share.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: a data directory is required", ErrConfig)
	}
	if cfg.SyncEvery == 0 {
		cfg.SyncEvery = DefaultSyncEvery
	}
	if cfg.SyncEvery < 0 {
		return nil, fmt.Errorf("%w: sync interval %v is negative", ErrConfig, cfg.SyncEvery)
	}
	if cfg.Clock == nil {
		cfg.Clock = pact.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: creating data directory %s: %w", cfg.DataDir, err)
	}
	db, err := devicedb.Open(filepath.Join(cfg.DataDir, DBFile))
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger, clock: cfg.Clock, db: db,
		findMy:   findmymatch.New(db),
		notifier: &Notifier{Hook: cfg.OnExposure, Log: cfg.Logger},
		adapter:  web.Adapter{Name: "none", State: "no radio: not chirping or listening"},
	}
	n.stats = &web.DeviceStats{
		DB: db, Now: n.clock.Now, Defaults: web.DefaultSettings,
		MoreMatches: []web.MatchReader{n.findMyMatches},
	}
	n.tracker = share.NewTracker(db, share.TrackerOptions{Clock: n.clock, Logger: n.log})
	st, err := n.stats.Settings(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	retention := retentionMinutes(st)
	n.seeds = pact.NewSeedLog(db, pact.SeedLogOptions{Clock: n.clock, Retention: retention})
	n.seeds.Snooze(st.SnoozeUntil)
	n.contacts = pact.NewContactLog(db, pact.ContactLogOptions{Clock: n.clock, Retention: retention, KeepLocations: st.LogLocation})
	if err := n.configure(st); err != nil {
		db.Close()
		return nil, err
	}
	return n, nil
}

func retentionMinutes(s web.Settings) pact.Minute {
	return pact.Minute(s.RetentionDays) * pact.MinutesPerDay
}

// configure (re)builds what depends on the settings' servers.
func (n *Node) configure(st web.Settings) error {
	servers := slices.Clone(n.cfg.Servers)
	for _, s := range st.Servers {
		spec := s.URL + ",key=" + s.Key
		if len(s.Regions) > 0 {
			spec += ",regions=" + strings.Join(s.Regions, "+")
		}
		if s.Name != "" {
			spec += ",name=" + s.Name
		}
		srv, err := ParseServer(spec)
		if err != nil {
			return fmt.Errorf("%w: stored server %q: %w", ErrConfig, s.Name, err)
		}
		if !slices.ContainsFunc(servers, func(o exposuresync.Server) bool { return o.Name == srv.Name }) {
			servers = append(servers, srv)
		}
	}
	hc, err := exposuresync.NewHTTPClient(n.cfg.Proxy, servers)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	var syncer *exposuresync.Syncer
	var sharer *share.Service
	if len(servers) > 0 {
		syncer, err = exposuresync.New(n.db, servers, exposuresync.Options{
			HTTPClient: hc, Clock: n.clock, Logger: n.log, Retention: retentionMinutes(st),
			FindMy: func(ctx context.Context, tx *devicedb.BatchTx, b *exposureclient.Batch) ([]devicedb.DaySource, error) {
				// A sync applies batches one at a time, so the difference
				// is this batch's.
				before := n.findMy.Stats().Dropped
				ms, err := n.findMy.MatchBatch(ctx, b)
				if err != nil {
					return nil, err
				}
				exposuresync.MarkReverseFindMy(b, ms)
				if dropped := n.findMy.Stats().Dropped - before; dropped > 0 {
					n.log.Warn("Find My keys dropped: their proof of possession does not verify", "batch", b.ID, "dropped", dropped, "keys", len(b.FindMy))
				}
				return tx.AddFindMyMatches(ms)
			},
			OnBatch: n.tracker.Observe,
		})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
		shareServers := make([]share.Server, len(servers))
		for i, s := range servers {
			shareServers[i] = share.Server{Name: s.Name, URL: s.URL}
		}
		sharer, err = share.New(share.Config{DB: n.db, Servers: shareServers, HTTPClient: hc, Clock: n.clock,
			Retention: retentionMinutes(st), Logger: n.log})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	n.mu.Lock()
	n.servers, n.hc, n.syncer, n.sharer = servers, hc, syncer, sharer
	n.mu.Unlock()
	return nil
}

// DB is the node's device database.
func (n *Node) DB() *devicedb.DB { return n.db }

// Seeds is the node's seed log.
func (n *Node) Seeds() *pact.SeedLog { return n.seeds }

// Close closes the database.
func (n *Node) Close() error { return n.db.Close() }

// Listen runs src through the listening pipeline into the contact log
// until it ends or ctx is done: a live adapter, a serial controller, or a
// capture replayed, as the demo does. The dashboard's harvester page shows
// the latest pipeline. live enables retention and periodic flushing.
func (n *Node) Listen(ctx context.Context, src ingest.Source, live bool) error {
	st, err := n.stats.Settings(ctx)
	if err != nil {
		return err
	}
	p, err := ingest.New(ingest.Options{DB: n.db, Expire: live, Live: live, MinRSSI: st.MinRSSI, Logger: n.log, Own: n.seeds.Own})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.listener = p
	n.mu.Unlock()
	return p.Run(ctx, src)
}

// SyncNow fetches, verifies and matches new batches from every server,
// and notifies the owner of new exposures.
func (n *Node) SyncNow(ctx context.Context) (exposuresync.Report, error) {
	n.syncMu.Lock()
	defer n.syncMu.Unlock()
	n.mu.Lock()
	syncer := n.syncer
	n.mu.Unlock()
	if syncer == nil {
		return exposuresync.Report{}, nil
	}
	rep, err := syncer.Sync(ctx)
	if _, cerr := n.tracker.CheckOverdue(ctx); cerr != nil {
		n.log.Warn("checking shared uploads", "err", cerr)
	}
	if len(rep.NewExposure) > 0 {
		if nerr := n.notify(ctx, rep.NewExposure); nerr != nil {
			n.log.Error("exposure notification", "err", nerr)
		}
	}
	return rep, err
}

// notify builds the notice for the days that changed from the stored
// summaries, so that it carries the day's totals, not only this sync's:
// ordinary exposures and reverse-tracing matches apart (spec §9.2).
// Ordinary exposures are told when they reach the owner's threshold;
// matches below it are on the dashboard and in the log, but tell no one.
func (n *Node) notify(ctx context.Context, changed []devicedb.DaySource) error {
	ex, err := n.stats.Exposures(ctx, time.Time{})
	if err != nil {
		return err
	}
	notice, ok := noticeFor(ex, changed, n.clock.Now().UTC())
	if !ok {
		n.log.Info("new matches below the notification threshold", "peak_24h", ex.Notification.Peak24h, "threshold", ex.Notification.Threshold)
		return nil
	}
	return n.notifier.Notify(ctx, notice)
}

// noticeFor returns the notice for the changed days of ex, and false when
// there is nothing to tell: no reverse-tracing match (spec §9.2) and no
// ordinary exposure at or above the notification threshold
// (docs/matching.md §8.4).
func noticeFor(ex web.Exposures, changed []devicedb.DaySource, found time.Time) (ExposureNotice, bool) {
	pick := func(days []web.DaySummary, reverse bool) []NoticeDay {
		var out []NoticeDay
		for _, d := range days {
			day := pact.MinuteOf(d.Day).Day()
			if !slices.ContainsFunc(changed, func(c devicedb.DaySource) bool {
				return c.Day == day && string(c.Source) == d.Source && c.Reverse == reverse
			}) {
				continue
			}
			out = append(out, NoticeDay{Date: d.Day.Format(time.DateOnly), Source: d.Source, Minutes: d.MatchedMinutes, Score: d.Score, Peak24h: d.Peak24h})
		}
		return out
	}
	// Indirect contacts (spec §9.1.3) are told apart, whatever the
	// threshold, under their own source; they never make the device
	// exposed.
	notice := ExposureNotice{Found: found, PossibleSourceDays: pick(ex.PossibleSource, true), IndirectDays: pick(ex.Indirect, false)}
	if ex.Notification.Reached {
		notice.Days = pick(ex.Days, false)
		notice.Peak24h, notice.Threshold = ex.Notification.Peak24h, ex.Notification.Threshold
	}
	notice.Exposed, notice.PossibleSource = len(notice.Days) > 0, len(notice.PossibleSourceDays) > 0
	if notice.PossibleSource {
		notice.Advice = web.PossibleSourceTitle
	}
	return notice, notice.Exposed || notice.PossibleSource || len(notice.IndirectDays) > 0
}

// Expire erases seeds, sightings, match results and share records past
// retention (spec §5.3).
func (n *Node) Expire(ctx context.Context) error {
	seeds, err := n.seeds.Expire(ctx)
	if err != nil {
		return err
	}
	sightings, err := n.contacts.Expire(ctx)
	if err != nil {
		return err
	}
	st, err := n.stats.Settings(ctx)
	if err != nil {
		return err
	}
	now := pact.MinuteOf(n.clock.Now())
	if r := retentionMinutes(st); now > r {
		if _, err := n.db.DeleteShareEntriesBefore(ctx, now-r); err != nil {
			return err
		}
	}
	if seeds+sightings > 0 {
		n.log.Info("erased past retention", "seeds", seeds, "sightings", sightings)
	}
	return nil
}

// RunLoops syncs every cfg.SyncEvery and erases past retention every hour
// until ctx is done; the first sync and erase run at once.
func (n *Node) RunLoops(ctx context.Context) {
	syncT := time.NewTicker(n.cfg.SyncEvery)
	defer syncT.Stop()
	expireT := time.NewTicker(expireEvery)
	defer expireT.Stop()
	if err := n.Expire(ctx); err != nil {
		n.log.Error("retention", "err", err)
	}
	for {
		if _, err := n.SyncNow(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("sync", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-syncT.C:
		case <-expireT.C:
			if err := n.Expire(ctx); err != nil {
				n.log.Error("retention", "err", err)
			}
		}
	}
}

// findMyMatches reads the stored Find My matches for the dashboard.
func (n *Node) findMyMatches(ctx context.Context, from, to time.Time, fn func(web.Match) error) error {
	return n.db.FindMyMatches(ctx, pact.MinuteOf(from), pact.MinuteOf(to), func(m devicedb.FindMyMatch) error {
		return fn(web.Match{Heard: m.Heard.Time(), Source: string(m.Source()), Contact: m.Key.String(), RSSI: int(m.RSSI), ReverseTracing: m.Reverse})
	})
}

// ServeDashboard serves the dashboard on ln until ctx is done. addr is
// the address as the owner gave it, which decides whether a token is
// required (web.Config).
func (n *Node) ServeDashboard(ctx context.Context, ln net.Listener, addr, token string) error {
	return n.ServeDashboardTLS(ctx, ln, addr, token, "", "")
}

// ServeDashboardTLS is ServeDashboard over TLS with the certificate and
// key in certFile and keyFile; plain HTTP when both are empty.
func (n *Node) ServeDashboardTLS(ctx context.Context, ln net.Listener, addr, token, certFile, keyFile string) error {
	h, err := web.New(web.Config{Backend: n, Addr: addr, Token: token, Now: n.clock.Now, Logger: n.log})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if certFile != "" || keyFile != "" {
		err = srv.ServeTLS(ln, certFile, keyFile)
	} else {
		err = srv.Serve(ln)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
