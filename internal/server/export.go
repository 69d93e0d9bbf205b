package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
)

// Export writes every stored batch, the listings and the public key under
// dir with the same paths as the API, so nginx or an object store can serve
// downloads without the server. Listings there ignore ?after=; clients
// filter themselves. Files of batches that cleanup deleted are removed.
func (s *Server) Export(ctx context.Context, dir string) error {
	infos, err := s.store.Batches(ctx, "", 0)
	if err != nil {
		return err
	}
	batchDir := filepath.Join(dir, "v1", "batches")
	if err := os.MkdirAll(batchDir, 0o755); err != nil {
		return err
	}
	keep := make(map[string]bool, len(infos))
	byRegion := make(map[string][]database.BatchInfo)
	for _, b := range infos {
		keep[b.ID()] = true
		byRegion[b.Region] = append(byRegion[b.Region], b)
		path := filepath.Join(batchDir, b.ID())
		if st, err := os.Stat(path); err == nil && st.Size() == int64(b.Size) {
			continue // batches are immutable
		}
		_, data, err := s.store.Batch(ctx, b.Region, b.Sequence)
		if err != nil {
			return err
		}
		if err := writeAtomic(path, data); err != nil {
			return err
		}
	}
	// A region whose batches cleanup deleted gets an empty listing: its
	// old one would send every client to files that are gone.
	exported, err := os.ReadDir(filepath.Join(dir, "v1", "regions"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listing exported regions: %w", err)
	}
	for _, e := range exported {
		if _, ok := byRegion[e.Name()]; !ok && e.IsDir() && batch.ValidRegion(e.Name()) == nil {
			byRegion[e.Name()] = nil
		}
	}
	for region, list := range byRegion {
		body, _ := json.Marshal(listing(region, list))
		if err := writeAtomic(filepath.Join(dir, "v1", "regions", region, "batches"), body); err != nil {
			return err
		}
	}
	body, _ := json.Marshal(listing("", infos))
	if err := writeAtomic(filepath.Join(dir, "v1", "all", "batches"), body); err != nil {
		return err
	}
	regions, _ := json.Marshal(map[string]any{"regions": regionsOf(infos)})
	if err := writeAtomic(filepath.Join(dir, "v1", "regions", "index.json"), regions); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, ".well-known", "pact", "batch-key"), s.keyJSON()); err != nil {
		return err
	}
	entries, err := os.ReadDir(batchDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.Remove(filepath.Join(batchDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// writeAtomic replaces path in one rename, so a file server never serves
// half a batch.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Chmod(0o644), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
