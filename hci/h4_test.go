package hci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

type h4StreamCase struct {
	Name string   `json:"name"`
	Hex  string   `json:"hex"`
	Want []string `json:"want"`
}

func loadH4Cases(t testing.TB) []h4StreamCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/h4_streams.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []h4StreamCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("testdata/h4_streams.json: %v", err)
	}
	return file.Cases
}

// readH4All drains an h4Reader into the want-list notation of the test
// data.
func readH4All(t testing.TB, r *h4Reader) []string {
	var got []string
	for range 1000 {
		ind, pkt, err := r.Next()
		switch {
		case err == io.EOF:
			return got
		case err != nil:
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is no *FormatError", err)
			}
			got = append(got, fmt.Sprintf("malformed:%s@%d", fe.Field, fe.Offset))
		default:
			got = append(got, fmt.Sprintf("%02X:%X", ind, pkt))
		}
	}
	t.Fatal("reader never reached io.EOF")
	return nil
}

func TestH4Reader(t *testing.T) {
	for _, tc := range loadH4Cases(t) {
		stream := mustHex(t, tc.Hex)
		readers := map[string]func() io.Reader{
			"whole":    func() io.Reader { return bytes.NewReader(stream) },
			"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
			"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
		}
		for how, mk := range readers {
			t.Run(tc.Name+"/"+how, func(t *testing.T) {
				got := readH4All(t, newH4Reader(mk()))
				if len(got) != len(tc.Want) {
					t.Fatalf("got %q\nwant %q", got, tc.Want)
				}
				for i, w := range tc.Want {
					if strings.HasPrefix(w, "malformed:") {
						if got[i] != w {
							t.Errorf("item %d: %s, want %s", i, got[i], w)
						}
						continue
					}
					if want := strings.Join(strings.Fields(w), ""); got[i] != want {
						t.Errorf("item %d: %s, want %s", i, got[i], want)
					}
				}
			})
		}
	}
}

func TestH4ReaderTruncationWrapsUnexpectedEOF(t *testing.T) {
	r := newH4Reader(bytes.NewReader(mustHex(t, "04 3E10 0201")))
	_, _, err := r.Next()
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v, want ErrMalformed and io.ErrUnexpectedEOF", err)
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("after truncation: %v, want io.EOF", err)
	}
}

func TestH4ReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("port unplugged")
	r := newH4Reader(io.MultiReader(bytes.NewReader(mustHex(t, "04 0E04")), iotest.ErrReader(boom)))
	if _, _, err := r.Next(); !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
		t.Fatalf("error %v, want the reader's own error", err)
	}
}

func TestH4ReaderLargeACL(t *testing.T) {
	payload := bytes.Repeat([]byte{0x5A}, 0xFFFF)
	pkt := append([]byte{0x01, 0x20, 0xFF, 0xFF}, payload...)
	stream := appendH4(nil, H4ACL, pkt)
	stream = appendH4(stream, H4Event, mustHex(t, "0E04 01 0C20 00"))
	r := newH4Reader(bytes.NewReader(stream))
	ind, got, err := r.Next()
	if err != nil || ind != H4ACL || !bytes.Equal(got, pkt) {
		t.Fatalf("Next = %02X, %d bytes, %v", ind, len(got), err)
	}
	if ind, _, err := r.Next(); err != nil || ind != H4Event {
		t.Fatalf("after large ACL: %02X, %v", ind, err)
	}
}

func TestSplitH4(t *testing.T) {
	tests := []struct {
		name, hex string
		want      string // packet hex, when well formed
		badField  string // else the field its *FormatError names
		badOffset int64
	}{
		{name: "event", hex: "04 0E04 01 0C20 00", want: "0E0401 0C2000"},
		{name: "command", hex: "01 030C00", want: "030C00"},
		{name: "empty", hex: "", badField: "packet indicator", badOffset: 0},
		{name: "unknown indicator", hex: "09 0000", badField: "packet indicator", badOffset: 0},
		{name: "short header", hex: "02 0120 03", badField: "ACL data header", badOffset: 1},
		{name: "too long", hex: "04 0E04 01 0C20 00 00", badField: "event length", badOffset: 1},
		{name: "too short", hex: "04 0E04 01 0C20", badField: "event length", badOffset: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, pkt, err := SplitH4(mustHex(t, tc.hex))
			if tc.badField != "" {
				checkFormatError(t, err, tc.badField, tc.badOffset)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := mustHex(t, tc.want); !bytes.Equal(pkt, want) {
				t.Errorf("packet %X, want %X", pkt, want)
			}
		})
	}
}

func FuzzH4Reader(f *testing.F) {
	for _, tc := range loadH4Cases(f) {
		f.Add(mustHex(f, tc.Hex))
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := newH4Reader(bytes.NewReader(stream))
		var consumed int
		for range len(stream) + 2 {
			ind, pkt, err := r.Next()
			if err == io.EOF {
				if consumed+int(r.Skipped()) > len(stream) {
					t.Fatalf("consumed %d + skipped %d > %d", consumed, r.Skipped(), len(stream))
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v does not wrap ErrMalformed", err)
				}
				continue
			}
			// Every packet the reader returns must pass SplitH4 too.
			whole := appendH4(nil, ind, pkt)
			if _, _, err := SplitH4(whole); err != nil {
				t.Fatalf("reader returned %X that SplitH4 rejects: %v", whole, err)
			}
			consumed += len(whole)
		}
		t.Fatal("reader did not reach io.EOF")
	})
}

func BenchmarkH4Reader(b *testing.B) {
	ev := mustHex(b, "3E2B 02 01 03 01 A4253D086DFB 1F 1EFF4C001219102807CE0B3C33332ED37B5D9D8291B1D99D0B8615189700E0 C5")
	var stream []byte
	for range 1000 {
		stream = appendH4(stream, H4Event, ev)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	packets := 0
	for b.Loop() {
		r := newH4Reader(bytes.NewReader(stream))
		for {
			if _, _, err := r.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
			packets++
		}
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
}
