package exposureclient_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/database/sqlitedb"
	"github.com/pact-findmy/pact-findmy/internal/server"
	"github.com/pact-findmy/pact-findmy/pact"
)

func pad(s string) []byte { return []byte(s + strings.Repeat(" ", 512-len(s)-1) + "\n") }

func TestParseUploadAnswer(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    []byte
		stored  bool
		want    error // sentinel; nil when stored
		code    string
		field   string
		wantErr bool
	}{
		{name: "stored", status: 201, body: pad(`{"status":"stored","padding":"  "}`), stored: true},
		{name: "used", status: 403, body: pad(`{"status":"refused","code":"permission_used","field":"permission_number","error":"used","padding":""}`),
			want: exposureclient.ErrPermissionUsed, code: "permission_used", field: "permission_number"},
		{name: "unknown number", status: 403, body: []byte(`{"status":"refused","code":"permission_unknown","field":"permission_number"}`),
			want: exposureclient.ErrPermissionUnknown, code: "permission_unknown", field: "permission_number"},
		{name: "expired", status: 403, body: []byte(`{"status":"refused","code":"permission_expired","field":"permission_number"}`),
			want: exposureclient.ErrPermissionExpired, code: "permission_expired", field: "permission_number"},
		{name: "revoked", status: 403, body: []byte(`{"status":"refused","code":"permission_revoked","field":"permission_number"}`),
			want: exposureclient.ErrPermissionRevoked, code: "permission_revoked", field: "permission_number"},
		{name: "rate limited", status: 429, body: []byte(`{"status":"refused","code":"rate_limited","field":"permission_number"}`),
			want: exposureclient.ErrRateLimited, code: "rate_limited", field: "permission_number"},
		{name: "invalid field", status: 400, body: []byte(`{"status":"refused","code":"invalid_field","field":"tuples[3]"}`),
			want: exposureclient.ErrInvalidField, code: "invalid_field", field: "tuples[3]"},
		{name: "too large", status: 413, body: []byte(`{"status":"refused","code":"too_large","field":"body"}`),
			want: exposureclient.ErrTooLarge, code: "too_large", field: "body"},
		{name: "unavailable", status: 503, body: []byte(`{"status":"refused","code":"unavailable"}`),
			want: exposureclient.ErrUnavailable, code: "unavailable"},
		{name: "unknown code", status: 403, body: []byte(`{"status":"refused","code":"newer_code","field":"x"}`),
			want: exposureclient.ErrRefused, code: "newer_code", field: "x"},
		{name: "stored with wrong status", status: 200, body: []byte(`{"status":"stored"}`), want: exposureclient.ErrBadAnswer},
		{name: "stored with a code", status: 201, body: []byte(`{"status":"stored","code":"permission_used"}`), want: exposureclient.ErrBadAnswer},
		{name: "code with the wrong status", status: 400, body: []byte(`{"status":"refused","code":"permission_used"}`),
			want: exposureclient.ErrBadAnswer, code: "permission_used"},
		{name: "refusal with success status", status: 201, body: []byte(`{"status":"refused","code":"whatever"}`),
			want: exposureclient.ErrBadAnswer, code: "whatever"},
		{name: "html from a proxy", status: 502, body: []byte(`<html>Bad Gateway</html>`), want: exposureclient.ErrBadAnswer},
		{name: "no status", status: 201, body: []byte(`{"code":""}`), want: exposureclient.ErrBadAnswer},
		{name: "unknown status", status: 201, body: []byte(`{"status":"maybe"}`), want: exposureclient.ErrBadAnswer},
		{name: "trailing data", status: 201, body: []byte(`{"status":"stored"}{}`), want: exposureclient.ErrBadAnswer},
		{name: "empty", status: 201, body: nil, want: exposureclient.ErrBadAnswer},
		{name: "oversized", status: 201, body: []byte(`{"status":"stored"}` + strings.Repeat(" ", exposureclient.MaxUploadAnswerBytes)), want: exposureclient.ErrBadAnswer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := exposureclient.ParseUploadAnswer(c.status, c.body)
			if res.Stored != c.stored || res.HTTPStatus != c.status {
				t.Fatalf("result %+v, want stored=%v status %d", res, c.stored, c.status)
			}
			if c.want == nil {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			var refused *exposureclient.RefusedError
			isRefusal := errors.As(err, &refused)
			if isRefusal == errors.Is(err, exposureclient.ErrBadAnswer) {
				t.Fatalf("error %v: a refusal and an unreadable answer are exclusive", err)
			}
			if isRefusal && (refused.Code != c.code || refused.Field != c.field || !errors.Is(err, exposureclient.ErrRefused)) {
				t.Fatalf("refusal %+v, want code %q field %q wrapping ErrRefused", refused.UploadResult, c.code, c.field)
			}
			if res.Code != c.code {
				t.Fatalf("result code %q, want %q", res.Code, c.code)
			}
		})
	}
}

func FuzzParseUploadAnswer(f *testing.F) {
	f.Add(201, pad(`{"status":"stored","padding":""}`))
	f.Add(403, []byte(`{"status":"refused","code":"permission_used","field":"permission_number","error":"x"}`))
	f.Add(400, []byte(`{"status":"refused","code":"invalid_field","field":"tuples[0]"}`))
	f.Add(502, []byte(`<html>`))
	f.Add(201, []byte(`{"status":"stored"} `))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		res, err := exposureclient.ParseUploadAnswer(status, body)
		var refused *exposureclient.RefusedError
		switch {
		case err == nil:
			if !res.Stored || status != http.StatusCreated {
				t.Fatalf("accepted %+v from status %d without a stored upload", res, status)
			}
		case errors.As(err, &refused):
			if res.Stored || !errors.Is(err, exposureclient.ErrRefused) || errors.Is(err, exposureclient.ErrBadAnswer) {
				t.Fatalf("refusal %v with result %+v", err, res)
			}
		case !errors.Is(err, exposureclient.ErrBadAnswer):
			t.Fatalf("error %v is neither a refusal nor an unreadable answer", err)
		case res.Stored:
			t.Fatalf("unreadable answer %v reported as stored", err)
		}
	})
}

// TestSendUploadAgainstServer reads the real server's answers: stored, then
// the same number refused, a malformed number, an oversized body, and rate
// limiting, each with its sentinel and field.
func TestSendUploadAgainstServer(t *testing.T) {
	ctx := context.Background()
	store, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "pact.db"), sqlitedb.Options{Sync: sqlitedb.SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hasher, _ := model.NewHasher(bytes.Repeat([]byte{5}, model.SecretSize))
	now := time.Unix(29_000_000*60, 0).UTC()
	clock := &pact.ManualClock{}
	clock.Set(now)
	srv, err := server.New(server.Options{
		Store: store, Hasher: hasher, SigningKey: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32)),
		Config: server.Config{FailuresPerHour: 2, MaxBodyBytes: 4096}, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	number, err := model.NewPermissionNumber(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.IssuePermissions(ctx, "Test Lab", [][]byte{hasher.Hash(number)}, now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m := pact.MinuteOf(now)
	good := exposureclient.Upload{
		PermissionNumber: number.Grouped(), Region: "CH",
		Tuples:         []pact.Tuple{{Seed: pact.Seed{1}, Start: m.HourStart() - 60, End: m.HourStart() - 1}},
		ReverseTracing: &exposureclient.MinuteRange{From: m - 120, To: m},
	}
	if res, err := exposureclient.SendUpload(ctx, nil, hs.URL, good); err != nil || !res.Stored {
		t.Fatalf("first upload: %+v, %v; want stored", res, err)
	}
	bad := good
	bad.PermissionNumber = "00000-00000-00000-00001"
	huge := good
	for i := range 200 {
		huge.Tuples = append(huge.Tuples, pact.Tuple{Seed: pact.Seed{byte(i), 2}, Start: m - 30, End: m - 1})
	}
	unknown := good
	unknown.PermissionNumber = mustNumber(t).Grouped()
	for _, c := range []struct {
		name  string
		up    exposureclient.Upload
		want  error
		field string
	}{
		{"spent number", good, exposureclient.ErrPermissionUsed, "permission_number"},
		{"malformed number", bad, exposureclient.ErrInvalidField, "permission_number"},
		{"body over the limit", huge, exposureclient.ErrTooLarge, "body"},
		{"unknown number", unknown, exposureclient.ErrPermissionUnknown, "permission_number"},
		// The allowance is two refused numbers per hour: the spent and the
		// unknown one took it.
		{"rate limited", unknown, exposureclient.ErrRateLimited, "permission_number"},
	} {
		res, err := exposureclient.SendUpload(ctx, nil, hs.URL, c.up)
		var refused *exposureclient.RefusedError
		if !errors.Is(err, c.want) || !errors.As(err, &refused) || refused.Field != c.field || res.Stored {
			t.Errorf("%s: %+v, %v; want %v naming %q", c.name, res, err, c.want, c.field)
		}
	}
	// A server that is not there: the outcome is unknown, not a refusal.
	hs.Close()
	if _, err := exposureclient.SendUpload(ctx, nil, hs.URL, good); !errors.Is(err, exposureclient.ErrUnreachable) || errors.Is(err, exposureclient.ErrRefused) {
		t.Fatalf("upload to a closed server: %v, want ErrUnreachable", err)
	}
}

func mustNumber(t *testing.T) model.PermissionNumber {
	t.Helper()
	n, err := model.NewPermissionNumber(nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUploadJSONShape(t *testing.T) {
	u := exposureclient.Upload{PermissionNumber: "N", Region: "CH"}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	// Optional parts stay out of the body when unset; the server refuses
	// unknown fields, so no other key may appear.
	if len(fields) != 3 || string(fields["tuples"]) != "[]" {
		t.Fatalf("body %s: want exactly permission_number, region and an empty tuples list", b)
	}
}
