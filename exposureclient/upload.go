package exposureclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pact-findmy/pact-findmy/pact"
)

// Errors of an upload (docs/api.md, "Upload"). A refusal wraps ErrRefused
// and the sentinel of its code; the server stored nothing. ErrUnreachable
// and ErrBadAnswer leave the outcome unknown: the upload may have been
// stored.
var (
	// ErrRefused: the server answered with a refusal (any code).
	ErrRefused = errors.New("upload refused")

	ErrPermissionUnknown = errors.New("permission number is unknown")
	ErrPermissionUsed    = errors.New("permission number was already used")
	ErrPermissionExpired = errors.New("permission number has expired")
	ErrPermissionRevoked = errors.New("permission number was revoked")
	ErrRateLimited       = errors.New("too many refused permission numbers from this network")
	ErrInvalidField      = errors.New("upload field is invalid")
	ErrTooLarge          = errors.New("upload is too large")
	ErrUnavailable       = errors.New("server could not store the upload")

	// ErrUnreachable: the request or its answer was lost on the network.
	ErrUnreachable = errors.New("exposure server unreachable")
	// ErrBadAnswer: the server's answer is not one docs/api.md allows.
	ErrBadAnswer = errors.New("exposure server gave an unreadable answer")
)

// refusalCodes maps each refusal code of docs/api.md to its sentinel and
// the HTTP status the server sends it with.
var refusalCodes = map[string]struct {
	err    error
	status int
}{
	"invalid_field":      {ErrInvalidField, http.StatusBadRequest},
	"permission_unknown": {ErrPermissionUnknown, http.StatusForbidden},
	"permission_used":    {ErrPermissionUsed, http.StatusForbidden},
	"permission_expired": {ErrPermissionExpired, http.StatusForbidden},
	"permission_revoked": {ErrPermissionRevoked, http.StatusForbidden},
	"too_large":          {ErrTooLarge, http.StatusRequestEntityTooLarge},
	"rate_limited":       {ErrRateLimited, http.StatusTooManyRequests},
	"unavailable":        {ErrUnavailable, http.StatusServiceUnavailable},
}

// MaxUploadAnswerBytes bounds the answer read from the server: the server
// pads every answer to 512 bytes, so anything far longer is not its answer.
const MaxUploadAnswerBytes = 16 << 10

// Upload is what a diagnosed device sends to POST /v1/uploads.
type Upload struct {
	PermissionNumber string
	Region           string
	Tuples           []pact.Tuple
	// ReverseTracing, when set, is the minute range for which the uploader
	// consents to reverse tracing (spec §9.2).
	ReverseTracing *MinuteRange
	// FindMyKeys are advertised keys with the minutes each was current,
	// their kind and their proof of possession (docs/findmy.md §8); never
	// the key material they were derived from (docs/findmy.md §5).
	FindMyKeys []FindMyKey
}

// MinuteRange is an inclusive range of minutes.
type MinuteRange struct {
	From, To pact.Minute
}

// UploadResult is the server's answer to an upload.
type UploadResult struct {
	// HTTPStatus is the status code of the answer.
	HTTPStatus int
	// Stored is true when the server kept the upload and spent the number.
	Stored bool
	// Code, Field and Message explain a refusal: Code is one of
	// docs/api.md's codes, Field the request field at fault (may be
	// empty), Message the server's words.
	Code, Field, Message string
}

// RefusedError is a refusal by the server. It matches ErrRefused and the
// sentinel of its code with errors.Is.
type RefusedError struct {
	UploadResult
	sentinel error
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("upload refused with status %d, code %q", e.HTTPStatus, e.Code)
	if e.Field != "" {
		s += fmt.Sprintf(", field %q", e.Field)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns ErrRefused and the sentinel of the code, if known.
func (e *RefusedError) Unwrap() []error {
	if e.sentinel == nil {
		return []error{ErrRefused}
	}
	return []error{ErrRefused, e.sentinel}
}

type uploadKeyJSON struct {
	Key       string `json:"key"`
	Start     uint32 `json:"start"`
	End       uint32 `json:"end"`
	Secondary bool   `json:"secondary,omitempty"`
	Proof     string `json:"proof"`
}

type uploadRangeJSON struct {
	From uint32 `json:"from"`
	To   uint32 `json:"to"`
}

type uploadJSON struct {
	PermissionNumber string           `json:"permission_number"`
	Region           string           `json:"region"`
	Tuples           []pact.Tuple     `json:"tuples"`
	ReverseTracing   *uploadRangeJSON `json:"reverse_tracing,omitempty"`
	FindMyKeys       []uploadKeyJSON  `json:"findmy_keys,omitempty"`
}

// MarshalJSON encodes the JSON body of docs/api.md, "Upload".
func (u Upload) MarshalJSON() ([]byte, error) {
	j := uploadJSON{PermissionNumber: u.PermissionNumber, Region: u.Region, Tuples: u.Tuples}
	if j.Tuples == nil {
		j.Tuples = []pact.Tuple{}
	}
	if r := u.ReverseTracing; r != nil {
		j.ReverseTracing = &uploadRangeJSON{From: uint32(r.From), To: uint32(r.To)}
	}
	for _, k := range u.FindMyKeys {
		j.FindMyKeys = append(j.FindMyKeys, uploadKeyJSON{Key: k.Key.String(), Start: uint32(k.Start), End: uint32(k.End),
			Secondary: k.Secondary, Proof: hex.EncodeToString(k.Proof[:])})
	}
	return json.Marshal(j)
}

// SendUpload posts u to the server at baseURL through hc (http.DefaultClient
// when nil). It returns the answer with a nil error when the upload was
// stored; a *RefusedError when the server refused it (nothing was stored,
// the number is not spent unless the code says it was already used);
// ErrUnreachable or ErrBadAnswer when the outcome is unknown.
func SendUpload(ctx context.Context, hc *http.Client, baseURL string, u Upload) (UploadResult, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	body, err := json.Marshal(u)
	if err != nil {
		return UploadResult{}, fmt.Errorf("encoding the upload: %w", err)
	}
	target := strings.TrimSuffix(baseURL, "/") + "/v1/uploads"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload to %s: %w", target, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload to %s: %w: %w", target, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, MaxUploadAnswerBytes+1))
	if err != nil {
		return UploadResult{HTTPStatus: resp.StatusCode}, fmt.Errorf("upload to %s: reading the answer: %w: %w", target, ErrUnreachable, err)
	}
	res, err := ParseUploadAnswer(resp.StatusCode, answer)
	if err != nil {
		return res, fmt.Errorf("upload to %s: %w", target, err)
	}
	return res, nil
}

// Upload posts u to the client's server; see SendUpload.
func (c *Client) Upload(ctx context.Context, u Upload) (UploadResult, error) {
	return SendUpload(ctx, c.http, c.base.String(), u)
}

// answerJSON is the padded answer of docs/api.md, "Upload".
type answerJSON struct {
	Status *string `json:"status"`
	Code   string  `json:"code"`
	Field  string  `json:"field"`
	Error  string  `json:"error"`
}

// ParseUploadAnswer reads the server's answer to an upload: the HTTP status
// and the JSON body. A stored upload gives a nil error; a refusal a
// *RefusedError; an answer that fits neither (wrong status for the code,
// not JSON, oversized) ErrBadAnswer, since then nobody knows whether the
// upload was stored.
func ParseUploadAnswer(status int, body []byte) (UploadResult, error) {
	res := UploadResult{HTTPStatus: status}
	if len(body) > MaxUploadAnswerBytes {
		return res, fmt.Errorf("status %d: %w: answer longer than %d bytes", status, ErrBadAnswer, MaxUploadAnswerBytes)
	}
	var a answerJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&a); err != nil {
		return res, fmt.Errorf("status %d: %w: %w", status, ErrBadAnswer, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return res, fmt.Errorf("status %d: %w: data after the JSON object", status, ErrBadAnswer)
	}
	if a.Status == nil {
		return res, fmt.Errorf("status %d: %w: no \"status\" field", status, ErrBadAnswer)
	}
	switch *a.Status {
	case "stored":
		if status != http.StatusCreated || a.Code != "" {
			return res, fmt.Errorf("status %d: %w: \"stored\" with code %q", status, ErrBadAnswer, a.Code)
		}
		res.Stored = true
		return res, nil
	case "refused":
		res.Code, res.Field, res.Message = a.Code, a.Field, a.Error
		known, ok := refusalCodes[a.Code]
		switch {
		case ok && known.status != status:
			return res, fmt.Errorf("status %d: %w: code %q comes with status %d", status, ErrBadAnswer, a.Code, known.status)
		case !ok && (status < 400 || status > 599):
			return res, fmt.Errorf("status %d: %w: a refusal with code %q needs an error status", status, ErrBadAnswer, a.Code)
		}
		return res, &RefusedError{UploadResult: res, sentinel: known.err}
	default:
		return res, fmt.Errorf("status %d: %w: unknown status %q", status, ErrBadAnswer, *a.Status)
	}
}
