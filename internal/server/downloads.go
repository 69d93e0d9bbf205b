package server

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
)

func toJSON(b database.BatchInfo) batch.Ref {
	return batch.Ref{
		ID: b.ID(), Region: b.Region, Sequence: b.Sequence, PeriodStart: uint32(b.PeriodStart),
		PeriodMinutes: b.PeriodMinutes, Entries: b.Entries, Size: b.Size,
		SHA256: hex.EncodeToString(b.SHA256[:]), URL: "/v1/batches/" + b.ID(),
	}
}

func listing(region string, infos []database.BatchInfo) batch.Listing {
	l := batch.Listing{Region: region, Batches: make([]batch.Ref, 0, len(infos))}
	for _, b := range infos {
		l.Batches = append(l.Batches, toJSON(b))
	}
	return l
}

// respondCached writes body with an ETag and max-age, answering 304 when
// the client already has it.
func respondCached(c *gin.Context, contentType string, body []byte, maxAge time.Duration, immutable bool) {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	cc := fmt.Sprintf("public, max-age=%d", int(maxAge.Seconds()))
	if immutable {
		cc += ", immutable"
	}
	c.Header("Cache-Control", cc)
	c.Header("ETag", etag)
	if match := c.GetHeader("If-None-Match"); match != "" && strings.Contains(match, etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, contentType, body)
}

func (s *Server) listMaxAge() time.Duration {
	return min(time.Duration(s.cfg.PeriodMinutes)*time.Minute/10, 5*time.Minute)
}

func jsonError(c *gin.Context, status int, field string, err error) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, gin.H{"error": err.Error(), "field": field})
}

func (s *Server) handleRegionBatches(c *gin.Context) {
	region := c.Param("region")
	if err := batch.ValidRegion(region); err != nil {
		jsonError(c, http.StatusBadRequest, "region", err)
		return
	}
	var after uint64
	if a := c.Query("after"); a != "" {
		var err error
		if after, err = strconv.ParseUint(a, 10, 64); err != nil {
			jsonError(c, http.StatusBadRequest, "after", fmt.Errorf("after %q is not a sequence number", a))
			return
		}
	}
	// The stores keep sequences as signed 64-bit integers, into which a
	// larger after would wrap and list every batch. No sequence reaches
	// 2^63, so nothing comes after such a number.
	if after > math.MaxInt64 {
		body, _ := json.Marshal(listing(region, nil))
		respondCached(c, "application/json", body, s.listMaxAge(), false)
		return
	}
	infos, err := s.store.Batches(c.Request.Context(), region, after)
	if err != nil {
		s.log.Error("listing batches", "region", region, "err", err)
		jsonError(c, http.StatusServiceUnavailable, "", errors.New("listing failed"))
		return
	}
	body, _ := json.Marshal(listing(region, infos))
	respondCached(c, "application/json", body, s.listMaxAge(), false)
}

func (s *Server) handleAllBatches(c *gin.Context) {
	infos, err := s.store.Batches(c.Request.Context(), "", 0)
	if err != nil {
		s.log.Error("listing batches", "err", err)
		jsonError(c, http.StatusServiceUnavailable, "", errors.New("listing failed"))
		return
	}
	body, _ := json.Marshal(listing("", infos))
	respondCached(c, "application/json", body, s.listMaxAge(), false)
}

// RegionJSON is one entry of /v1/regions.
type RegionJSON struct {
	Region       string `json:"region"`
	LastSequence uint64 `json:"last_sequence"`
}

func regionsOf(infos []database.BatchInfo) []RegionJSON {
	out := []RegionJSON{}
	for _, b := range infos {
		if n := len(out); n > 0 && out[n-1].Region == b.Region {
			out[n-1].LastSequence = b.Sequence
			continue
		}
		out = append(out, RegionJSON{Region: b.Region, LastSequence: b.Sequence})
	}
	return out
}

func (s *Server) handleRegions(c *gin.Context) {
	infos, err := s.store.Batches(c.Request.Context(), "", 0)
	if err != nil {
		s.log.Error("listing regions", "err", err)
		jsonError(c, http.StatusServiceUnavailable, "", errors.New("listing failed"))
		return
	}
	body, _ := json.Marshal(gin.H{"regions": regionsOf(infos)})
	respondCached(c, "application/json", body, s.listMaxAge(), false)
}

func (s *Server) handleBatch(c *gin.Context) {
	region, seq, err := database.ParseBatchID(c.Param("id"))
	if err != nil {
		jsonError(c, http.StatusBadRequest, "id", err)
		return
	}
	// One name per batch: "CH.01" or "CH.+1" would serve a second
	// immutable copy of CH.1, which caches and mirrors keep apart.
	if c.Param("id") != database.FormatBatchID(region, seq) {
		jsonError(c, http.StatusNotFound, "id", fmt.Errorf("batch id %q: not canonical, the batch is %s: %w", c.Param("id"), database.FormatBatchID(region, seq), database.ErrNotFound))
		return
	}
	_, data, err := s.store.Batch(c.Request.Context(), region, seq)
	if errors.Is(err, database.ErrNotFound) {
		jsonError(c, http.StatusNotFound, "id", err)
		return
	}
	if err != nil {
		s.log.Error("reading batch", "id", c.Param("id"), "err", err)
		jsonError(c, http.StatusServiceUnavailable, "", errors.New("reading failed"))
		return
	}
	respondCached(c, BatchContentType, data, 365*24*time.Hour, true)
}

// KeyJSON is the body at PathBatchKey.
type KeyJSON struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"`
}

func (s *Server) keyJSON() []byte {
	pub := s.PublicKey()
	id := batch.KeyIDOf(pub)
	b, _ := json.Marshal(KeyJSON{Algorithm: "Ed25519", KeyID: hex.EncodeToString(id[:]), PublicKey: base64.StdEncoding.EncodeToString(pub)})
	return b
}

func (s *Server) handleKey(c *gin.Context) {
	respondCached(c, "application/json", s.keyJSON(), time.Hour, false)
}
