package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pact-findmy/pact-findmy/pact"
)

const testSeedHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// Every upload is read as spec §6.2 and docs/api.md say, on every path:
// names are case-sensitive and given once, unknown names are refused.
// encoding/json's struct decoding, once a fallback here, accepted each of
// these and kept the last of two values.
func TestUploadJSONIsReadAsTheSpecSays(t *testing.T) {
	const tuple = `{"seed": "` + testSeedHex + `", "start": 28999920, "end": 28999979}`
	cases := []struct {
		name  string
		body  string
		field string
		want  error
	}{
		{"seed twice", `{"permission_number": "x", "region": "CH", "tuples": [{"seed": "` + testSeedHex + `", "seed": "` + strings.Repeat("ff", 32) + `", "start": 28999920, "end": 28999979}]}`, "tuples[0]", nil},
		{"SEED", `{"permission_number": "x", "region": "CH", "tuples": [{"SEED": "` + testSeedHex + `", "start": 28999920, "end": 28999979}]}`, "tuples[0]", nil},
		{"Permission_Number", `{"Permission_Number": "x", "region": "CH", "tuples": [` + tuple + `]}`, "Permission_Number", ErrUnknownField},
		{"permission_number twice", `{"permission_number": "x", "permission_number": "y", "region": "CH", "tuples": [` + tuple + `]}`, "permission_number", ErrDuplicateField},
		{"region twice", `{"permission_number": "x", "region": "CH", "region": "US", "tuples": [` + tuple + `]}`, "region", ErrDuplicateField},
		{"tuples twice", `{"permission_number": "x", "region": "CH", "tuples": [], "tuples": [` + tuple + `]}`, "tuples", ErrDuplicateField},
		{"REGION", `{"permission_number": "x", "REGION": "CH", "tuples": [` + tuple + `]}`, "REGION", ErrUnknownField},
		{"reverse_tracing from twice", `{"permission_number": "x", "region": "CH", "tuples": [], "reverse_tracing": {"from": 1, "from": 2, "to": 3}}`, "reverse_tracing.from", ErrDuplicateField},
		{"Find My key start twice", `{"permission_number": "x", "region": "CH", "tuples": [], "findmy_keys": [{"key": "00", "start": 1, "start": 2, "end": 3}]}`, "findmy_keys[0].start", ErrDuplicateField},
		{"Find My key proof twice", `{"permission_number": "x", "region": "CH", "tuples": [], "findmy_keys": [{"key": "00", "start": 1, "end": 3, "proof": "", "proof": ""}]}`, "findmy_keys[0].proof", ErrDuplicateField},
		{"Find My key Proof", `{"permission_number": "x", "region": "CH", "tuples": [], "findmy_keys": [{"key": "00", "start": 1, "end": 3, "Proof": ""}]}`, "findmy_keys[0].Proof", ErrUnknownField},
		{"Find My schedule", `{"permission_number": "x", "region": "CH", "tuples": [], "findmy_schedule": [{"Secret": "00"}]}`, "findmy_schedule", ErrScheduleRetired},
		{"null region", `{"permission_number": "x", "region": null, "tuples": []}`, "region", ErrMalformed},
		{"missing tuples", `{"permission_number": "x", "region": "CH"}`, "tuples", ErrFieldMissing},
		{"trailing data", `{"permission_number": "x", "region": "CH", "tuples": []} {}`, "body", ErrMalformed},
		{"not JSON", `hello`, "body", ErrMalformed},
		{"minute with a fraction", `{"permission_number": "x", "region": "CH", "tuples": [], "reverse_tracing": {"from": 1.5, "to": 3}}`, "reverse_tracing.from", ErrFieldValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, perr := parseUploadJSON([]byte(tc.body))
			if perr == nil {
				t.Fatalf("accepted as %+v, want a refusal naming %s", p, tc.field)
			}
			if perr.field != tc.field || (tc.want != nil && !errors.Is(perr, tc.want)) {
				t.Fatalf("refused naming %q with %v, want %q and %v", perr.field, perr.err, tc.field, tc.want)
			}
		})
	}
}

// FuzzUploadAgreesWithParseTupleFile checks that the server reads the
// tuples of an upload as pact.ParseTupleFile (and so pact-bridge match)
// does: an upload the server accepts is a tuple file with the same
// tuples, and a JSON array of tuples placed in an upload is accepted by
// both or refused by both.
func FuzzUploadAgreesWithParseTupleFile(f *testing.F) {
	tuple := `{"seed": "` + testSeedHex + `", "start": 28999920, "end": 28999979}`
	for _, s := range []string{
		`{"permission_number": "x", "region": "CH", "tuples": [` + tuple + `]}`,
		`{"tuples": [], "region": "CH", "permission_number": "x", "reverse_tracing": {"from": 1, "to": 2}}`,
		`{"permission_number": "x", "region": "C\u0048", "tuples": [{"se\u0065d": "` + testSeedHex + `", "start": -0, "end": 1}]}`,
		`[` + tuple + `]`,
		`[{"seed": "` + testSeedHex + `", "seed": "` + testSeedHex + `", "start": 1, "end": 2}]`,
		`[{"SEED": "` + testSeedHex + `", "start": 1, "end": 2}]`,
		`[{"seed": "` + strings.ToUpper(testSeedHex) + `", "start": 1e1, "end": 20}]`,
		`[null]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if p, perr := parseUploadJSON(body); perr == nil {
			ts, err := pact.ParseTupleFile(body)
			if err != nil {
				t.Fatalf("server accepted %q, ParseTupleFile refused it: %v", body, err)
			}
			if !slices.Equal(ts, p.tuples) {
				t.Fatalf("%q: server read %v, ParseTupleFile %v", body, p.tuples, ts)
			}
		}
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		if !json.Valid(body) || len(trimmed) == 0 || trimmed[0] != '[' {
			return
		}
		upload := append(append([]byte(`{"permission_number": "x", "region": "CH", "tuples": `), body...), '}')
		p, perr := parseUploadJSON(upload)
		ts, err := pact.ParseTupleFile(body)
		switch {
		case (perr == nil) != (err == nil):
			t.Fatalf("tuples %q: server refusal %v, ParseTupleFile refusal %v", body, perr, err)
		case err == nil && !slices.Equal(ts, p.tuples):
			t.Fatalf("tuples %q: server read %v, ParseTupleFile %v", body, p.tuples, ts)
		}
	})
}
