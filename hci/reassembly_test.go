package hci

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// piece is one LE Extended Advertising Report of a test sequence.
type piece struct {
	addr   byte // last address byte; the others are fixed
	sid    uint8
	status uint16 // data status
	data   []byte
	after  time.Duration // since the sequence start
	legacy bool
}

func pieceEvent(t testing.TB, p piece) []byte {
	t.Helper()
	r := AdvReport{AddrType: 1, Addr: [6]byte{0xC1, 2, 3, 4, 5, p.addr}, PrimaryPHY: 1, SecondaryPHY: 1, SID: p.sid,
		TxPower: 127, RSSI: -60, Data: p.data, EventType: p.status << 5}
	if p.legacy {
		r.EventType = extLegacyAdvNonconnInd
	}
	ev, err := AppendLEExtendedAdvertisingReport(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func fill(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func TestReassembleExtendedReports(t *testing.T) {
	type out struct {
		addr   byte
		status uint8
		data   []byte
	}
	tests := []struct {
		name        string
		pieces      []piece
		want        []out
		reassembled uint64
		dropped     uint64
	}{
		{name: "whole report passes",
			pieces: []piece{{addr: 1, data: fill(1, 40)}},
			want:   []out{{1, 0, fill(1, 40)}}},
		{name: "two pieces joined",
			pieces: []piece{{addr: 1, status: 1, data: fill(1, 200)}, {addr: 1, status: 0, data: fill(2, 30), after: 5 * time.Millisecond}},
			want:   []out{{1, 0, append(fill(1, 200), fill(2, 30)...)}}, reassembled: 1},
		{name: "three pieces, two advertisers and two sets interleaved",
			pieces: []piece{
				{addr: 1, status: 1, data: fill(1, 10)},
				{addr: 2, status: 1, data: fill(7, 10)},
				{addr: 1, sid: 3, status: 1, data: fill(9, 4)},
				{addr: 1, status: 1, data: fill(2, 10)},
				{addr: 2, status: 0, data: fill(8, 1)},
				{addr: 1, status: 0, data: fill(3, 10)},
				{addr: 1, sid: 3, status: 0, data: nil},
			},
			want:        []out{{2, 0, append(fill(7, 10), 8)}, {1, 0, slicesConcat(fill(1, 10), fill(2, 10), fill(3, 10))}, {1, 0, fill(9, 4)}},
			reassembled: 3},
		{name: "truncated by the controller",
			pieces:  []piece{{addr: 1, status: 1, data: fill(1, 200)}, {addr: 1, status: 2, data: fill(2, 10)}},
			want:    []out{{1, 2, fill(2, 10)}},
			dropped: 1},
		{name: "last piece too late",
			pieces:  []piece{{addr: 1, status: 1, data: fill(1, 200)}, {addr: 1, status: 0, data: fill(2, 10), after: 2 * time.Second}},
			want:    []out{{1, 0, fill(2, 10)}},
			dropped: 1},
		{name: "last piece makes it longer than an advertising set holds",
			pieces: func() []piece {
				var ps []piece
				for range 7 {
					ps = append(ps, piece{addr: 1, status: 1, data: fill(1, 229)})
				}
				return append(ps, piece{addr: 1, status: 0, data: fill(2, 100)}, piece{addr: 1, data: fill(5, 3)})
			}(),
			want:    []out{{1, 0, fill(5, 3)}},
			dropped: 1},
		{name: "a middle piece makes it too long: the rest is swallowed",
			pieces: func() []piece {
				var ps []piece
				for range 9 {
					ps = append(ps, piece{addr: 1, status: 1, data: fill(1, 229)})
				}
				return append(ps, piece{addr: 1, status: 0, data: fill(2, 100)}, piece{addr: 1, data: fill(5, 3)})
			}(),
			want:    []out{{1, 0, fill(5, 3)}},
			dropped: 1},
		{name: "exactly 1650 bytes",
			pieces: func() []piece {
				var ps []piece
				for range 7 {
					ps = append(ps, piece{addr: 1, status: 1, data: fill(1, 229)})
				}
				return append(ps, piece{addr: 1, status: 0, data: fill(2, 1650-7*229)})
			}(),
			want:        []out{{1, 0, append(fill(1, 7*229), fill(2, 1650-7*229)...)}},
			reassembled: 1},
		{name: "too many advertisers at once",
			pieces: func() []piece {
				var ps []piece
				for a := range maxReassemblies + 1 {
					ps = append(ps, piece{addr: byte(a), status: 1, data: fill(byte(a), 3), after: time.Duration(a) * time.Millisecond})
				}
				return append(ps, piece{addr: 0, status: 0, data: fill(9, 1), after: 50 * time.Millisecond},
					piece{addr: 1, status: 0, data: fill(9, 1), after: 50 * time.Millisecond})
			}(),
			want:        []out{{0, 0, fill(9, 1)}, {1, 0, append(fill(1, 3), 9)}},
			reassembled: 1, dropped: 1},
		{name: "legacy report untouched between pieces",
			pieces: []piece{{addr: 1, status: 1, data: fill(1, 5)}, {addr: 1, legacy: true, data: fill(4, 5)}, {addr: 1, status: 0, data: fill(2, 5)}},
			want:   []out{{1, 0, fill(4, 5)}, {1, 0, append(fill(1, 5), fill(2, 5)...)}}, reassembled: 1},
	}
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d AdvDecoder
			var got []out
			for _, p := range tc.pieces {
				if _, err := d.Decode(pieceEvent(t, p), start.Add(p.after), func(r *AdvReport) error {
					got = append(got, out{r.Addr[5], r.DataStatus(), bytes.Clone(r.Data)})
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d reports %v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i].addr != tc.want[i].addr || got[i].status != tc.want[i].status || !bytes.Equal(got[i].data, tc.want[i].data) {
					t.Errorf("report %d: addr %d status %d %d bytes, want addr %d status %d %d bytes", i,
						got[i].addr, got[i].status, len(got[i].data), tc.want[i].addr, tc.want[i].status, len(tc.want[i].data))
				}
			}
			if st := d.ReassemblyStats(); st.Reassembled != tc.reassembled || st.Dropped != tc.dropped {
				t.Errorf("stats %+v, want reassembled %d dropped %d", st, tc.reassembled, tc.dropped)
			}
		})
	}
}

func slicesConcat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// FuzzReassembly feeds one decoder a sequence of events (each a 2-byte
// length, a 2-byte millisecond step and the event) and checks that it
// never panics, never delivers more data than an advertising set holds,
// and never keeps more advertisers in progress than its bound.
func FuzzReassembly(f *testing.F) {
	var seed []byte
	for i, p := range []piece{{addr: 1, status: 1, data: fill(1, 200)}, {addr: 2, status: 1, data: fill(2, 9)}, {addr: 1, status: 0, data: fill(3, 30)}, {addr: 2, status: 2}} {
		ev := pieceEvent(f, p)
		seed = binary.LittleEndian.AppendUint16(seed, uint16(len(ev)))
		seed = binary.LittleEndian.AppendUint16(seed, uint16(i*3))
		seed = append(seed, ev...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		var d AdvDecoder
		at := time.Unix(1e9, 0)
		delivered := uint64(0)
		for len(in) >= 4 {
			n := int(binary.LittleEndian.Uint16(in))
			at = at.Add(time.Duration(binary.LittleEndian.Uint16(in[2:])) * time.Millisecond)
			in = in[4:]
			if n > len(in) {
				n = len(in)
			}
			ev := in[:n]
			in = in[n:]
			k, _ := d.Decode(ev, at, func(r *AdvReport) error {
				if len(r.Data) > MaxExtendedAdvData {
					t.Fatalf("%d bytes delivered", len(r.Data))
				}
				return nil
			})
			delivered += uint64(k)
			if len(d.chains.pending) > maxReassemblies {
				t.Fatalf("%d advertisers in progress", len(d.chains.pending))
			}
		}
		if st := d.ReassemblyStats(); st.Reassembled > delivered {
			t.Fatalf("stats %+v with %d delivered", st, delivered)
		}
	})
}
