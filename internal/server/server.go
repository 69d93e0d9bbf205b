package server

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Paths of the public interface (docs/api.md).
const (
	PathUploads      = "/v1/uploads"
	PathAllBatches   = "/v1/all/batches"
	PathBatchKey     = "/.well-known/pact/batch-key"
	BatchContentType = "application/vnd.pact.batch"
	// TuplesContentType is the binary upload body of docs/protocol.md §6.1.
	TuplesContentType = "application/vnd.pact.tuples"
	// Headers that carry the permission number and region of a binary upload.
	HeaderPermissionNumber = "Pact-Permission-Number"
	HeaderRegion           = "Pact-Region"
)

// Server serves the API of docs/api.md.
type Server struct {
	store  database.Store
	hasher *model.Hasher
	key    ed25519.PrivateKey
	cfg    Config
	log    *slog.Logger
	clock  pact.Clock
	// limiter counts refused permission numbers per client network;
	// proofChecks, the Find My proofs of possession it makes us verify.
	limiter     *networkLimiter
	proofChecks *networkLimiter
	regions     map[string]bool
	metrics     *metrics
	gather      prometheus.Gatherer
	engine      *gin.Engine
}

// Options are the collaborators of New; Store, Hasher and SigningKey are required.
type Options struct {
	Store      database.Store
	Hasher     *model.Hasher
	SigningKey ed25519.PrivateKey
	Config     Config
	Logger     *slog.Logger
	Clock      pact.Clock
	// Registry receives the metrics; a fresh one when nil.
	Registry *prometheus.Registry
}

// New builds the server.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Hasher == nil || len(o.SigningKey) != ed25519.PrivateKeySize {
		return nil, errors.New("server: store, hasher and an Ed25519 signing key are required")
	}
	cfg := o.Config.withDefaults()
	if cfg.TupleRetention <= cfg.UploadRetention {
		return nil, fmt.Errorf("server: tuple retention %v must exceed upload retention %v", cfg.TupleRetention, cfg.UploadRetention)
	}
	if 24*60%cfg.PeriodMinutes != 0 {
		return nil, fmt.Errorf("server: period of %d minutes does not divide a day", cfg.PeriodMinutes)
	}
	s := &Server{
		store: o.Store, hasher: o.Hasher, key: o.SigningKey, cfg: cfg,
		log: o.Logger, clock: o.Clock,
		limiter: newNetworkLimiter(float64(cfg.FailuresPerHour), float64(cfg.FailuresPerHour), time.Hour),
		// A budget below one upload's cost would refuse the largest
		// uploads for ever; the rate is still the configured one.
		proofChecks: newNetworkLimiter(float64(max(cfg.FindMyProofsPerMinute, MaxFindMyKeys)), float64(cfg.FindMyProofsPerMinute), time.Minute),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.clock == nil {
		s.clock = pact.SystemClock{}
	}
	if len(cfg.Regions) > 0 {
		s.regions = make(map[string]bool)
		for _, r := range cfg.Regions {
			if err := batch.ValidRegion(r); err != nil {
				return nil, fmt.Errorf("server: configured %w", err)
			}
			s.regions[r] = true
		}
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var err error
	if s.metrics, err = newMetrics(reg); err != nil {
		return nil, err
	}
	s.gather = reg
	s.engine, err = s.routes()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

// PublicKey returns the batch verification key.
func (s *Server) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

func (s *Server) routes() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("server: trusted proxies: %w", err)
	}
	// No writer for gin's own recovery log: on a broken connection it
	// dumps the request headers, which hold the user agent, any
	// X-Forwarded-For and the Pact-Permission-Number of a binary upload.
	e.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, v any) {
		s.log.Error("handler panic", "route", c.FullPath(), "panic", fmt.Sprint(v))
		c.AbortWithStatus(http.StatusInternalServerError)
	}))
	e.Use(s.logRequests)
	e.POST(PathUploads, s.handleUpload)
	e.GET("/v1/regions", s.handleRegions)
	e.GET("/v1/regions/:region/batches", s.handleRegionBatches)
	e.GET(PathAllBatches, s.handleAllBatches)
	e.GET("/v1/batches/:id", s.handleBatch)
	e.GET(PathBatchKey, s.handleKey)
	e.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	return e, nil
}
