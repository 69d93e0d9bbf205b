package pact

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseTupleFile(t *testing.T) {
	cases := []struct {
		file    string
		want    int
		wantErr error
	}{
		{"array.json", 2, nil},
		{"upload.json", 1, nil},
		{"empty_array.json", 0, nil},
		{"no_tuples.json", 0, ErrTupleFile},
		{"bad_seed.json", 0, ErrHexLength},
		{"text.txt", 0, ErrTupleFile},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "tuplefiles", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ts, err := ParseTupleFile(b)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(ts) != tc.want {
				t.Fatalf("ParseTupleFile = %d tuples, %v; want %d", len(ts), err, tc.want)
			}
		})
	}
	// The binary list decodes to the same tuples as the JSON one.
	b, _ := os.ReadFile(filepath.Join("testdata", "tuplefiles", "array.json"))
	fromJSON, _ := ParseTupleFile(b)
	bin, err := EncodeTuples(fromJSON)
	if err != nil {
		t.Fatal(err)
	}
	fromBinary, err := ParseTupleFile(bin)
	if err != nil || len(fromBinary) != 2 || fromBinary[1] != fromJSON[1] {
		t.Fatalf("binary = %v, %v", fromBinary, err)
	}
}

func FuzzParseTupleFile(f *testing.F) {
	for _, name := range []string{"array.json", "upload.json", "bad_seed.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "tuplefiles", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("PCT1\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := ParseTupleFile(b)
		if err != nil {
			return
		}
		// Whatever was accepted, in any encoding, must survive the binary
		// list unchanged when it fits one (spec §6.1 limits the count and
		// the window, which decoding does not validate).
		bin, err := EncodeTuples(ts)
		if err != nil {
			return
		}
		back, err := ParseTupleFile(bin)
		if err != nil || !slices.Equal(back, ts) {
			t.Fatalf("%d tuples re-encoded as a binary list parse as %d, %v", len(ts), len(back), err)
		}
	})
}
