package pact

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

type validateCase struct {
	Name    string `json:"name"`
	Start   uint32 `json:"start"`
	End     uint32 `json:"end"`
	Now     uint32 `json:"now"`
	Skew    uint32 `json:"skew"`
	Horizon uint32 `json:"horizon"`
	Want    string `json:"want"` // "", "order", "window", "future", "expired"
	// WantMsg, when set, must appear in the error: the values it names.
	WantMsg string `json:"want_msg"`
}

var validateErrs = map[string]error{"order": ErrTimeOrder, "window": ErrWindow, "future": ErrFuture, "expired": ErrExpired}

func TestTupleValidate(t *testing.T) {
	var cases []validateCase
	loadJSON(t, filepath.Join("testdata", "validate.json"), &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			tu := Tuple{Start: Minute(tc.Start), End: Minute(tc.End)}
			err := tu.Validate(Limits{Now: Minute(tc.Now), Skew: Minute(tc.Skew), Horizon: Minute(tc.Horizon)})
			if tc.Want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, validateErrs[tc.Want]) {
				t.Fatalf("Validate = %v, want %v", err, validateErrs[tc.Want])
			}
			if !strings.Contains(err.Error(), tc.WantMsg) {
				t.Fatalf("Validate = %v, want it to mention %q", err, tc.WantMsg)
			}
		})
	}
}

type decodeCase struct {
	Name      string `json:"name"`
	JSON      string `json:"json,omitempty"`
	BinaryHex string `json:"binary_hex,omitempty"`
	WantErr   string `json:"want_err"`
}

// TestDecodeRejects checks that malformed tuples fail with an error that
// names what is wrong.
func TestDecodeRejects(t *testing.T) {
	var cases []decodeCase
	loadJSON(t, filepath.Join("testdata", "decode_errors.json"), &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			var err error
			if tc.JSON != "" {
				var tu Tuple
				err = json.Unmarshal([]byte(tc.JSON), &tu)
			} else {
				raw, herr := hex.DecodeString(tc.BinaryHex)
				if herr != nil {
					t.Fatal(herr)
				}
				_, err = DecodeTuples(raw)
			}
			if err == nil || !strings.Contains(err.Error(), tc.WantErr) {
				t.Fatalf("error = %v, want one mentioning %q", err, tc.WantErr)
			}
		})
	}
}

// tupleFuzzSeeds returns the tuple encodings of testdata: the vectors of
// spec §10 and the malformed inputs of decode_errors.json.
func tupleFuzzSeeds(f *testing.F) (jsonSeeds []string, lists [][]byte) {
	var vectors []tupleVector
	loadJSON(f, filepath.Join("testdata", "vectors", "tuples.json"), &vectors)
	list := []byte("PCT1\x00\x00\x00\x00")
	for _, v := range vectors {
		jsonSeeds = append(jsonSeeds, v.JSON)
		b, err := hex.DecodeString(v.Binary)
		if err != nil {
			f.Fatal(err)
		}
		list = append(list, b...)
		list[7]++
	}
	lists = append(lists, list, list[:len(list)-1])
	var bad []decodeCase
	loadJSON(f, filepath.Join("testdata", "decode_errors.json"), &bad)
	for _, c := range bad {
		if c.JSON != "" {
			jsonSeeds = append(jsonSeeds, c.JSON)
			continue
		}
		b, err := hex.DecodeString(c.BinaryHex)
		if err != nil {
			f.Fatal(err)
		}
		lists = append(lists, b)
	}
	return jsonSeeds, lists
}

func FuzzDecodeTuples(f *testing.F) {
	_, lists := tupleFuzzSeeds(f)
	for _, b := range lists {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := DecodeTuples(data)
		if err != nil {
			return
		}
		again, err := EncodeTuples(ts)
		if err != nil {
			t.Fatalf("decoded tuples do not re-encode: %v", err)
		}
		if string(again) != string(data) {
			t.Fatalf("round trip changed the bytes")
		}
	})
}

func FuzzTupleJSON(f *testing.F) {
	jsonSeeds, _ := tupleFuzzSeeds(f)
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var tu Tuple
		if err := json.Unmarshal([]byte(s), &tu); err != nil {
			return
		}
		out, err := json.Marshal(tu)
		if err != nil {
			t.Fatal(err)
		}
		var back Tuple
		if err := json.Unmarshal(out, &back); err != nil || back != tu {
			t.Fatalf("JSON round trip: %v, %+v != %+v", err, back, tu)
		}
	})
}

// TestTupleListLimit checks both sides of the count limit of spec §6.1:
// the encoder must not write a list that every decoder rejects.
func TestTupleListLimit(t *testing.T) {
	for _, n := range []int{0, 1, MaxTuplesPerList, MaxTuplesPerList + 1} {
		ts := make([]Tuple, n)
		b, err := EncodeTuples(ts)
		if n > MaxTuplesPerList {
			if err == nil || !strings.Contains(err.Error(), "exceed the limit") {
				t.Errorf("EncodeTuples(%d tuples) = %d bytes, %v; want a limit error", n, len(b), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("EncodeTuples(%d tuples): %v", n, err)
		}
		if back, err := DecodeTuples(b); err != nil || len(back) != n {
			t.Errorf("DecodeTuples of %d tuples = %d, %v", n, len(back), err)
		}
	}
}

// TestUnmarshalBinaryKeepsTupleOnError checks that a rejected encoding does
// not leave a half-decoded tuple behind.
func TestUnmarshalBinaryKeepsTupleOnError(t *testing.T) {
	overflow, err := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1ffffffffe05")
	if err != nil {
		t.Fatal(err)
	}
	before := Tuple{Seed: Seed{9, 9, 9}, Start: 7, End: 8}
	tu := before
	if err := tu.UnmarshalBinary(overflow); err == nil || !strings.Contains(err.Error(), "overflows") {
		t.Fatalf("UnmarshalBinary = %v, want an overflow error", err)
	}
	if tu != before {
		t.Fatalf("tuple after a failed decode = %+v, want it unchanged %+v", tu, before)
	}
}
