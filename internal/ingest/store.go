package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
	"github.com/pact-findmy/pact-findmy/pact"
)

// storeWriter writes batches to the contact log on a goroutine of its own,
// so that parsing goes on while SQLite commits. The database is not its
// own: others (the node's syncer and dashboard, another process on the
// same file) write it too, and it stays open after close.
type storeWriter struct {
	db *devicedb.DB
	// contacts, when set, erases sightings past retention at start and
	// then every expireEvery.
	contacts *pact.ContactLog
	log      *slog.Logger
	queue    chan storeBatch
	done     chan struct{}
	rows     atomic.Uint64 // contact-log sightings written
	partial  atomic.Uint64 // partial Find My sightings written
	batches  atomic.Uint64 // transactions (one batch each) committed
	mu       sync.Mutex
	failed   error
}

// expireEvery is how often a long scan erases sightings past retention.
const expireEvery = time.Hour

// newStore returns a writer on db; start starts it.
func newStore(db *devicedb.DB, log *slog.Logger) *storeWriter {
	return &storeWriter{db: db, log: log, queue: make(chan storeBatch, 2), done: make(chan struct{})}
}

// start starts the writer. With expire, it first erases what is past
// retention (spec §5.3), and then does so every expireEvery.
func (s *storeWriter) start(expire bool) error {
	if expire {
		s.contacts = pact.NewContactLog(s.db, pact.ContactLogOptions{})
		if err := s.expire(context.Background()); err != nil {
			return err
		}
	}
	go s.loop()
	return nil
}

func (s *storeWriter) expire(ctx context.Context) error {
	n, err := s.contacts.Expire(ctx)
	if err != nil {
		return fmt.Errorf("erasing expired sightings: %w", err)
	}
	if n > 0 {
		s.log.Info("erased sightings past retention", "rows", n)
	}
	return nil
}

func (s *storeWriter) loop() {
	defer close(s.done)
	// A stop signal must not abort the final writes, so the writes use a
	// context of their own.
	ctx := context.Background()
	lastExpire := time.Now()
	for batch := range s.queue {
		if s.err() != nil {
			continue
		}
		if s.contacts != nil && time.Since(lastExpire) >= expireEvery {
			lastExpire = time.Now()
			if err := s.expire(ctx); err != nil {
				s.log.Error("retention failed", "err", err)
			}
		}
		start := time.Now()
		if err := s.db.AddSightings(ctx, batch.full); err != nil {
			s.fail(fmt.Errorf("writing %d sightings to the contact log: %w", len(batch.full), err))
			s.log.Error("contact log write failed", "rows", len(batch.full), "err", err)
			continue
		}
		if err := s.db.AddPartialSightings(ctx, partialRows(batch.partial)); err != nil {
			s.fail(fmt.Errorf("writing %d partial Find My sightings: %w", len(batch.partial), err))
			s.log.Error("partial sighting write failed", "rows", len(batch.partial), "err", err)
			continue
		}
		s.rows.Add(uint64(len(batch.full)))
		s.partial.Add(uint64(len(batch.partial)))
		s.batches.Add(1)
		s.log.Debug("contact log batch", "rows", len(batch.full), "partial", len(batch.partial), "took", time.Since(start))
	}
}

func (s *storeWriter) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = err
}

func (s *storeWriter) err() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// storeBatch is what one flush hands the store writer: contact-log
// sightings and partial Find My sightings.
type storeBatch struct {
	full    []pact.Sighting
	partial []harvest.PartialSighting
}

func partialRows(ps []harvest.PartialSighting) []devicedb.PartialSighting {
	rows := make([]devicedb.PartialSighting, len(ps))
	for i, p := range ps {
		rows[i] = devicedb.PartialSighting(p)
	}
	return rows
}

// put queues a batch; it blocks while two batches are already waiting,
// which slows a replay down to the speed of the database.
func (s *storeWriter) put(batch storeBatch) error {
	if err := s.err(); err != nil {
		return err
	}
	s.queue <- batch
	return nil
}

// close waits for the queued batches to be written; the database stays
// open for its owner.
func (s *storeWriter) close() error {
	close(s.queue)
	<-s.done
	return s.err()
}
