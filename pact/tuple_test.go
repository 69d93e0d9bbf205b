package pact

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// validateCases are the rules of spec §6.3: a tuple, the limits it is
// checked against, and the sentinel of the rule it breaks (nil if none).
var validateCases = []struct {
	name                           string
	start, end, now, skew, horizon uint32
	want                           error
}{
	{"full hour", 600, 659, 700, 0, 0, nil},
	{"single minute", 600, 600, 600, 0, 0, nil},
	{"end before start", 610, 600, 700, 0, 0, ErrTimeOrder},
	{"sixty one minutes", 600, 660, 700, 0, 0, ErrWindow},
	{"sixty minutes across an hour boundary", 630, 689, 700, 0, 0, ErrHourBoundary},
	{"the last minute of one hour and the first of the next", 659, 660, 700, 0, 0, ErrHourBoundary},
	{"ends in the future", 600, 650, 640, 0, 0, ErrFuture},
	{"future within skew", 600, 642, 640, 2, 0, nil},
	{"before horizon", 600, 610, 700, 0, 601, ErrExpired},
	{"at horizon", 601, 610, 700, 0, 601, nil},
	{"max minute", 4294967290, 4294967295, 4294967295, 0, 0, nil},
	{"one minute past the skew", 600, 643, 640, 2, 0, ErrFuture},
	{"skew reaching past the last minute", 4294967290, 4294967295, 4294967294, 5, 0, nil},
	{"window of the whole minute range", 0, 4294967295, 4294967295, 0, 0, ErrWindow},
	{"minute zero with no horizon", 0, 0, 10, 0, 0, nil},
}

func TestTupleValidate(t *testing.T) {
	for _, tc := range validateCases {
		t.Run(tc.name, func(t *testing.T) {
			tu := Tuple{Start: Minute(tc.start), End: Minute(tc.end)}
			err := tu.Validate(Limits{Now: Minute(tc.now), Skew: Minute(tc.skew), Horizon: Minute(tc.horizon)})
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

// decodeCase is a malformed tuple, in JSON or as a binary list, the
// sentinel its error wraps and, for JSON, the field a *TupleFieldError
// names.
type decodeCase struct {
	name      string
	json      string
	binaryHex string
	want      error
	field     string
}

var decodeErrors = []decodeCase{
	{name: "short seed", json: `{"seed":"00ff","start":1,"end":2}`, want: ErrHexLength, field: "seed"},
	{name: "seed not hex", json: `{"seed":"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","start":1,"end":2}`, want: hex.InvalidByteError('z'), field: "seed"},
	{name: "seed a number", json: `{"seed":12,"start":1,"end":2}`, want: ErrFieldType, field: "seed"},
	{name: "missing end", json: `{"seed":"$SEED","start":1}`, want: ErrMissingField, field: "end"},
	{name: "negative start", json: `{"seed":"$SEED","start":-5,"end":2}`, want: ErrMinuteRange, field: "start"},
	{name: "start too big", json: `{"seed":"$SEED","start":4294967296,"end":2}`, want: ErrMinuteRange, field: "start"},
	{name: "start not an integer", json: `{"seed":"$SEED","start":1.5,"end":2}`, want: ErrMinuteRange, field: "start"},
	{name: "unknown field", json: `{"seed":"$SEED","start":1,"end":2,"rssi":3}`, want: ErrUnknownField, field: "rssi"},
	{name: "field name in capitals", json: `{"SEED":"$SEED","start":1,"end":2}`, want: ErrUnknownField, field: "SEED"},
	{name: "seed given twice", json: `{"seed":"$SEED","start":1,"end":2,"seed":"ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}`, want: ErrDuplicateField, field: "seed"},
	{name: "start given twice in other case", json: `{"seed":"$SEED","start":1,"Start":2,"end":2}`, want: ErrUnknownField, field: "Start"},
	{name: "start is a string", json: `{"seed":"$SEED","start":"1","end":2}`, want: ErrFieldType, field: "start"},
	{name: "an array", json: `[1,2]`, want: ErrTupleJSON},
	{name: "list too short", binaryHex: "504354", want: ErrTupleList},
	{name: "list wrong magic", binaryHex: "5043543200000000", want: ErrTupleList},
	{name: "list count too large", binaryHex: "50435431ffffffff", want: ErrTooManyTuples},
	{name: "list truncated", binaryHex: "50435431000000010001", want: ErrTupleList},
	{name: "minute overflow", binaryHex: "5043543100000001000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1ffffffffe05", want: ErrMinuteRange},
}

// jsonInput returns the JSON of c with "$SEED" standing for a valid seed.
func (c decodeCase) jsonInput() string {
	return strings.ReplaceAll(c.json, `"$SEED"`, `"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"`)
}

// TestDecodeRejects checks that malformed tuples fail with the sentinel of
// what is wrong and, in JSON, the field at fault.
func TestDecodeRejects(t *testing.T) {
	for _, tc := range decodeErrors {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.json != "" {
				var tu Tuple
				err = json.Unmarshal([]byte(tc.jsonInput()), &tu)
			} else {
				raw, herr := hex.DecodeString(tc.binaryHex)
				if herr != nil {
					t.Fatal(herr)
				}
				_, err = DecodeTuples(raw)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			var fe *TupleFieldError
			if errors.As(err, &fe) != (tc.json != "") {
				t.Fatalf("error = %v: a *TupleFieldError is %v, want %v", err, fe != nil, tc.json != "")
			}
			if fe != nil && fe.Field != tc.field {
				t.Errorf("error names field %q, want %q", fe.Field, tc.field)
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
	for _, c := range decodeErrors {
		if c.json != "" {
			jsonSeeds = append(jsonSeeds, c.jsonInput())
			continue
		}
		b, err := hex.DecodeString(c.binaryHex)
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
			if !errors.Is(err, ErrTooManyTuples) {
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
	if err := tu.UnmarshalBinary(overflow); !errors.Is(err, ErrMinuteRange) {
		t.Fatalf("UnmarshalBinary = %v, want an overflow error", err)
	}
	if tu != before {
		t.Fatalf("tuple after a failed decode = %+v, want it unchanged %+v", tu, before)
	}
}
