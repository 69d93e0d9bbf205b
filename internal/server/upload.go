package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/database"
	"github.com/pact-findmy/pact-findmy/pact"
)

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
	// findMy are the listed keys, their proofs not yet verified.
	findMy []batch.FindMyKey
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
		return badField("region", fmt.Errorf("region %q: %w", p.region, ErrRegion))
	}
	if len(p.tuples) == 0 && len(p.findMy) == 0 {
		return badField("tuples", ErrEmptyUpload)
	}
	if len(p.tuples) > s.cfg.MaxTuples {
		return badField("tuples", fmt.Errorf("%d tuples exceed the limit %d: %w", len(p.tuples), s.cfg.MaxTuples, ErrTooMany))
	}
	limits := s.limits(now)
	seen := make(map[pact.Seed]int, len(p.tuples))
	for i, t := range p.tuples {
		if err := t.Validate(limits); err != nil {
			return badField(fmt.Sprintf("tuples[%d]", i), err)
		}
		if j, dup := seen[t.Seed]; dup {
			return badField(fmt.Sprintf("tuples[%d].seed", i), fmt.Errorf("seed repeats tuples[%d].seed: %w", j, ErrFieldValue))
		}
		seen[t.Seed] = i
	}
	return checkFindMy(p.findMy, "findmy_keys", limits)
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
			return fail(&uploadError{http.StatusRequestEntityTooLarge, "too_large", "body", fmt.Errorf("body exceeds %d bytes: %w", s.cfg.MaxBodyBytes, ErrTooLarge)})
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
	// upload cost proof verifications: a refund after verifying would let
	// a client that fails later (or hangs up) make the server verify for
	// ever.
	keepCharge := false
	defer func() {
		if !keepCharge {
			s.limiter.refund(addr, now, 1)
		}
	}()
	if len(p.findMy) > 0 {
		if !s.proofChecks.take(addr, now, float64(len(p.findMy))) {
			return fail(&uploadError{http.StatusTooManyRequests, "rate_limited", "findmy_keys",
				fmt.Errorf("uploads from this network need more Find My proof verifications than allowed per minute; try again later: %w", ErrRateLimited)})
		}
		keepCharge = true
		if perr := s.verifyFindMyProofs(c.Request.Context(), p.findMy, p.region); perr != nil {
			return fail(perr)
		}
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
			return fail(&uploadError{http.StatusServiceUnavailable, "unavailable", "", fmt.Errorf("the upload could not be stored; nothing was kept, retry later: %w", ErrUnavailable)})
		}
		keepCharge = true
		return fail(&uploadError{http.StatusForbidden, code, "permission_number", err})
	}
	s.metrics.uploadedTuples.Add(float64(len(p.tuples)))
	s.respondUpload(c, http.StatusCreated, uploadResponse{Status: "stored"})
	return "stored"
}
