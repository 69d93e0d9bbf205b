package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
)

// CutOnce cuts every closed period into batches and exports them.
func (s *Server) CutOnce(ctx context.Context) ([]database.BatchInfo, error) {
	start := time.Now()
	pad := chaffer{tupleBase: TupleBucket(s.cfg.HoldUploads), findMyBase: FindMyBucket, random: rand.Reader}
	infos, err := s.store.CutBatches(ctx, s.cfg.CutPolicy(pact.MinuteOf(s.clock.Now())), func(b *batch.Batch, shapes []database.UploadShape) ([]byte, error) {
		if !s.cfg.NoChaff {
			if err := pad.pad(b, shapes); err != nil {
				return nil, err
			}
		}
		return batch.EncodeBatch(b, s.key)
	})
	if err != nil {
		return nil, err
	}
	s.metrics.cutSeconds.Observe(time.Since(start).Seconds())
	s.metrics.batchesCut.Add(float64(len(infos)))
	for _, b := range infos {
		s.log.Info("batch cut", "id", b.ID(), "uploads", b.Uploads, "entries", b.Entries, "bytes", b.Size)
	}
	if s.cfg.ExportDir != "" && len(infos) > 0 {
		if err := s.Export(ctx, s.cfg.ExportDir); err != nil {
			return infos, fmt.Errorf("exporting to %s: %w", s.cfg.ExportDir, err)
		}
	}
	return infos, nil
}

// Cleanup applies the retention of Config.
func (s *Server) Cleanup(ctx context.Context) (database.CleanupResult, error) {
	now := s.clock.Now()
	m := pact.MinuteOf(now)
	horizon := func(d time.Duration) pact.Minute {
		if w := pact.Minute(d / time.Minute); m > w {
			return m - w
		}
		return 0
	}
	r, err := s.store.Cleanup(ctx, horizon(s.cfg.UploadRetention), horizon(s.cfg.TupleRetention), now)
	if err != nil {
		return r, err
	}
	s.log.Info("cleanup", "uploads", r.Uploads, "batches", r.Batches, "permission_numbers", r.PermissionNumbers)
	if s.cfg.ExportDir != "" && r.Batches > 0 {
		if err := s.Export(ctx, s.cfg.ExportDir); err != nil {
			return r, fmt.Errorf("exporting to %s: %w", s.cfg.ExportDir, err)
		}
	}
	return r, nil
}

// Run cuts batches at every period boundary and cleans up hourly until
// ctx ends.
func (s *Server) Run(ctx context.Context) {
	tick := time.NewTicker(min(time.Minute, time.Duration(s.cfg.PeriodMinutes)*time.Minute))
	defer tick.Stop()
	// A fresh or stale export directory catches up before the first cut.
	if s.cfg.ExportDir != "" {
		if err := s.Export(ctx, s.cfg.ExportDir); err != nil && ctx.Err() == nil {
			s.log.Error("exporting batches", "dir", s.cfg.ExportDir, "err", err)
		}
	}
	lastCleanup := time.Time{}
	for {
		if _, err := s.CutOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("cutting batches", "err", err)
		}
		if time.Since(lastCleanup) > time.Hour {
			if _, err := s.Cleanup(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("cleanup", "err", err)
			}
			lastCleanup = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
