package server

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	// derivations, the Find My derivation steps of its uploads.
	limiter     *networkLimiter
	derivations *networkLimiter
	regions     map[string]bool
	metrics     *metrics
	gather      prometheus.Gatherer
	engine      *gin.Engine
}

type metrics struct {
	uploads        *prometheus.CounterVec
	uploadSeconds  prometheus.Histogram
	uploadedTuples prometheus.Counter
	batchesCut     prometheus.Counter
	cutSeconds     prometheus.Histogram
	requests       *prometheus.CounterVec
	secretUpdates  prometheus.Counter
	keysDerived    prometheus.Counter
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
		secretUpdates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pact_findmy_secret_updates_total", Help: "KDF steps run to reach the first key of Find My schedule entries.",
		}),
		keysDerived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pact_findmy_keys_derived_total", Help: "Find My keys derived from schedule entries.",
		}),
	}
	for _, c := range []prometheus.Collector{m.uploads, m.uploadSeconds, m.uploadedTuples, m.batchesCut, m.cutSeconds, m.requests, m.secretUpdates, m.keysDerived} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
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
		derivations: newNetworkLimiter(float64(max(cfg.FindMyStepsPerMinute, MaxUploadDerivationSteps)), float64(cfg.FindMyStepsPerMinute), time.Minute),
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

// MetricsHandler serves the Prometheus metrics. It is not part of
// Handler: upload counters that move the second an upload is stored would
// tell anyone who polls them which observed upload succeeded, undoing the
// constant-size responses. Serve it on a private address.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{})
}

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

// logRequests logs method, route, status and latency only: never the
// client address or user agent, so no log line ties a person to an upload.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	s.log.Debug("request", "method", c.Request.Method, "route", route, "status", status, "duration", time.Since(start))
}

// uploadResponse is the body of every /v1/uploads response, padded to the
// same length whatever the outcome so its size reveals nothing on the wire.
type uploadResponse struct {
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"`
	Field   string `json:"field,omitempty"`
	Error   string `json:"error,omitempty"`
	Padding string `json:"padding"`
}

// maxFieldBytes bounds the field name in a response, as JSON: an unknown
// field's name is chosen by the client and could otherwise fill it.
const maxFieldBytes = 64

func (s *Server) respondUpload(c *gin.Context, status int, r uploadResponse) {
	r.Field = fitJSON(r.Field, maxFieldBytes)
	b, _ := json.Marshal(r)
	if over := len(b) + 1 - s.cfg.ResponseBytes; over > 0 { // +1: the newline
		r.Error = fitJSON(r.Error, jsonLen(r.Error)-over)
		b, _ = json.Marshal(r)
	}
	if pad := s.cfg.ResponseBytes - len(b) - 1; pad > 0 {
		r.Padding = strings.Repeat(" ", pad)
		b, _ = json.Marshal(r)
	}
	b = append(b, '\n')
	c.Header("Cache-Control", "no-store")
	c.Header(HeaderPadding, statusPadding(status))
	// net/http closes the connection, and says so in a header, after a
	// body too large to drain; closing after every upload keeps that
	// header from telling such a refusal apart. A client uploads once.
	c.Header("Connection", "close")
	c.Data(status, "application/json", b)
}

// HeaderPadding evens out the status line of an upload response: its
// reason phrase ("Created", "Forbidden", "Too Many Requests") would
// otherwise tell the outcome by its length, body padding or not.
const HeaderPadding = "Pact-Padding"

// longestUploadReason is the longest reason phrase of an upload outcome,
// that of 413.
var longestUploadReason = len(http.StatusText(http.StatusRequestEntityTooLarge))

// statusPadding returns the HeaderPadding value for status, so that the
// reason phrase and it have the same length for every upload outcome.
func statusPadding(status int) string {
	return strings.Repeat(".", 1+max(0, longestUploadReason-len(http.StatusText(status))))
}

// jsonLen is the length of s encoded as a JSON string, without the quotes.
func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b) - 2
}

// fitJSON cuts s so that its JSON encoding takes at most n bytes besides
// the quotes, ending it in "..." when cut. It measures the encoding
// because escaping makes a '<' six bytes, and cuts between runes so that
// the cut adds no invalid UTF-8.
func fitJSON(s string, n int) string {
	if jsonLen(s) <= n {
		return s
	}
	budget := n - len("...")
	if budget < 0 {
		return ""
	}
	used := 0
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		if used += jsonLen(s[i : i+size]); used > budget {
			return s[:i] + "..."
		}
		i += size
	}
	return s
}

// uploadError is a refusal with the HTTP status, a stable code and the
// field at fault.
type uploadError struct {
	status int
	code   string
	field  string
	err    error
}

func (e *uploadError) Error() string { return e.err.Error() }
func (e *uploadError) Unwrap() error { return e.err }

func badField(field string, err error) *uploadError {
	return &uploadError{status: http.StatusBadRequest, code: "invalid_field", field: field, err: err}
}

// parsedUpload is a syntactically valid upload, not yet checked against time.
type parsedUpload struct {
	number  string
	region  string
	tuples  []pact.Tuple
	reverse [2]pact.Minute
	// findMy are the listed keys; schedules are expanded only after the
	// rate limiter, into findMy too.
	findMy    []batch.FindMyKey
	schedules []findMyScheduleJSON
	// entries are the schedules once check has checked them.
	entries []scheduleEntry
}

func parseUploadBinary(c *gin.Context, body []byte) (*parsedUpload, *uploadError) {
	ts, err := pact.DecodeTuples(body)
	if err != nil {
		return nil, badField("tuples", err)
	}
	return &parsedUpload{number: c.GetHeader(HeaderPermissionNumber), region: c.GetHeader(HeaderRegion), tuples: ts}, nil
}

// check applies the rules of spec §6.3 and the server's limits.
func (s *Server) check(p *parsedUpload, now pact.Minute) *uploadError {
	if err := batch.ValidRegion(p.region); err != nil {
		return badField("region", err)
	}
	if s.regions != nil && !s.regions[p.region] {
		return badField("region", fmt.Errorf("region %q is not served here", p.region))
	}
	if len(p.tuples) == 0 && len(p.findMy) == 0 && len(p.schedules) == 0 {
		return badField("tuples", errors.New("no tuples and no Find My keys"))
	}
	if len(p.tuples) > s.cfg.MaxTuples {
		return badField("tuples", fmt.Errorf("%d tuples exceed the limit %d", len(p.tuples), s.cfg.MaxTuples))
	}
	limits := s.limits(now)
	seen := make(map[pact.Seed]int, len(p.tuples))
	for i, t := range p.tuples {
		if err := t.Validate(limits); err != nil {
			return badField(fmt.Sprintf("tuples[%d]", i), err)
		}
		if j, dup := seen[t.Seed]; dup {
			return badField(fmt.Sprintf("tuples[%d].seed", i), fmt.Errorf("seed repeats tuples[%d].seed", j))
		}
		seen[t.Seed] = i
	}
	if perr := checkFindMy(p.findMy, "findmy_keys", limits); perr != nil {
		return perr
	}
	var perr *uploadError
	p.entries, perr = parseSchedules(p.schedules, MaxFindMyKeys-len(p.findMy), limits)
	return perr
}

func (s *Server) limits(now pact.Minute) pact.Limits {
	return pact.Limits{Now: now, Skew: pact.Minute(s.cfg.Skew / time.Minute), Horizon: s.cfg.AcceptHorizon(now)}
}

func (s *Server) handleUpload(c *gin.Context) {
	start := time.Now()
	result := s.upload(c)
	s.metrics.uploads.WithLabelValues(result).Inc()
	if result == "stored" {
		s.metrics.uploadSeconds.Observe(time.Since(start).Seconds())
	}
}

func (s *Server) upload(c *gin.Context) string {
	fail := func(e *uploadError) string {
		s.respondUpload(c, e.status, uploadResponse{Status: "refused", Code: e.code, Field: e.field, Error: e.err.Error()})
		return e.code
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	body, err := c.GetRawData()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(&uploadError{http.StatusRequestEntityTooLarge, "too_large", "body", fmt.Errorf("body exceeds %d bytes", s.cfg.MaxBodyBytes)})
		}
		return fail(&uploadError{http.StatusBadRequest, "invalid_field", "body", fmt.Errorf("reading body: %w", err)})
	}
	var p *parsedUpload
	var perr *uploadError
	// Anything but the binary type is read as JSON, so that a plain
	// "curl -d" (which says application/x-www-form-urlencoded) works too.
	if c.ContentType() == TuplesContentType {
		p, perr = parseUploadBinary(c, body)
	} else {
		p, perr = parseUploadJSON(body)
	}
	if perr != nil {
		return fail(perr)
	}
	now := s.clock.Now()
	if perr := s.check(p, pact.MinuteOf(now)); perr != nil {
		return fail(perr)
	}
	number, err := model.ParsePermissionNumber(p.number)
	if err != nil {
		return fail(badField("permission_number", err))
	}
	addr := c.ClientIP()
	if !s.limiter.take(addr, now, 1) {
		return fail(&uploadError{http.StatusTooManyRequests, "rate_limited", "permission_number",
			fmt.Errorf("too many refused permission numbers from this network; try again later: %w", ErrRateLimited)})
	}
	// The guess is given back unless the number was refused or the
	// upload cost a derivation: a refund after deriving would let a
	// client that fails later (or hangs up) make the server derive for
	// ever.
	keepCharge := false
	defer func() {
		if !keepCharge {
			s.limiter.refund(addr, now, 1)
		}
	}()
	if len(p.entries) > 0 {
		if !s.derivations.take(addr, now, float64(derivationSteps(p.entries))) {
			return fail(&uploadError{http.StatusTooManyRequests, "rate_limited", "findmy_schedule",
				fmt.Errorf("Find My schedules from this network need more key derivation than allowed per minute; try again later: %w", ErrRateLimited)})
		}
		keepCharge = true
		expanded, err := s.deriveSchedules(c.Request.Context(), p.entries)
		if err != nil {
			return fail(&uploadError{http.StatusServiceUnavailable, "unavailable", "", fmt.Errorf("the request ended before its Find My keys were derived; nothing was kept: %w", ErrUnavailable)})
		}
		// The arithmetic of parseSchedules decided these windows; a key
		// that fails here is a bug, not the client's fault, but it must
		// not be published either.
		if perr := checkFindMy(expanded, "findmy_schedule", s.limits(pact.MinuteOf(now))); perr != nil {
			s.log.Error("a derived Find My key failed its check", "err", perr)
			return fail(perr)
		}
		p.findMy = append(p.findMy, expanded...)
	}
	up := &database.Upload{
		Region: p.region, PeriodStart: s.cfg.PeriodStart(pact.MinuteOf(now)), Tuples: p.tuples, FindMy: p.findMy,
		ReverseFrom: p.reverse[0], ReverseTo: p.reverse[1],
	}
	err = s.store.SpendAndStore(c.Request.Context(), s.hasher.Hash(number), now, up)
	if err != nil {
		code := ""
		switch {
		case errors.Is(err, database.ErrPermissionUnknown):
			code = "permission_unknown"
		case errors.Is(err, database.ErrPermissionUsed):
			code = "permission_used"
		case errors.Is(err, database.ErrPermissionExpired):
			code = "permission_expired"
		case errors.Is(err, database.ErrPermissionRevoked):
			code = "permission_revoked"
		default:
			s.log.Error("storing an upload failed", "err", err)
			return fail(&uploadError{http.StatusServiceUnavailable, "unavailable", "", errors.New("the upload could not be stored; nothing was kept, retry later")})
		}
		keepCharge = true
		return fail(&uploadError{http.StatusForbidden, code, "permission_number", err})
	}
	s.metrics.uploadedTuples.Add(float64(len(p.tuples)))
	s.respondUpload(c, http.StatusCreated, uploadResponse{Status: "stored"})
	return "stored"
}

func toJSON(b database.BatchInfo) batch.Ref {
	return batch.Ref{
		ID: b.ID(), Region: b.Region, Sequence: b.Sequence, PeriodStart: uint32(b.PeriodStart),
		PeriodMinutes: b.PeriodMinutes, Uploads: b.Uploads, Entries: b.Entries, Size: b.Size,
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

// CutOnce cuts every closed period into batches and exports them.
func (s *Server) CutOnce(ctx context.Context) ([]database.BatchInfo, error) {
	start := time.Now()
	cutoff := s.cfg.PeriodStart(pact.MinuteOf(s.clock.Now()))
	infos, err := s.store.CutBatches(ctx, cutoff, s.cfg.PeriodMinutes, func(h batch.Header, ts []pact.Tuple, fm []batch.FindMyKey) ([]byte, error) {
		return batch.EncodeWithFindMy(h, ts, fm, s.key)
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
