package findmy

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestParseDULT(t *testing.T) {
	airTag := [6]byte{0xFB, 0x6D, 0x08, 0x3D, 0x25, 0xA4}
	tests := []struct {
		name      string
		addr      [6]byte
		ad        string
		want      DULTAdvertisement
		err       error // the sentinel the error wraps
		errOffset int
	}{
		{name: "AirTag 2 near its owner", addr: airTag, ad: "07 16 b2 fc 01 01 10 03",
			want: DULTAdvertisement{Network: DULTNetworkApple, NearOwner: true, Status: 1, Proprietary: []byte{0x10, 0x03},
				KeyAddress: true, Prefix: Prefix{0x3B, 0x6D, 0x08, 0x3D, 0x25, 0xA4}}},
		{name: "after flags, separated, no proprietary data", addr: airTag, ad: "02 01 06 05 16 b2 fc 01 00",
			want: DULTAdvertisement{Network: DULTNetworkApple, Status: 0, Proprietary: []byte{}, KeyAddress: true, Prefix: Prefix{0x3B, 0x6D, 0x08, 0x3D, 0x25, 0xA4}}},
		{name: "Google network, reserved status bits kept", addr: [6]byte{0x11, 2, 3, 4, 5, 6}, ad: "06 16 b2 fc 02 81 aa",
			want: DULTAdvertisement{Network: DULTNetworkGoogle, NearOwner: true, Status: 0x81, Proprietary: []byte{0xAA}, KeyAddress: false}},
		{name: "22 proprietary bytes", addr: airTag, ad: "1b 16 b2 fc 01 00" + strings.Repeat("ee", 22),
			want: DULTAdvertisement{Network: DULTNetworkApple, Proprietary: bytes.Repeat([]byte{0xEE}, 22), KeyAddress: true, Prefix: Prefix{0x3B, 0x6D, 0x08, 0x3D, 0x25, 0xA4}}},
		{name: "other service data", addr: airTag, ad: "05 16 aa fe 01 01", err: ErrNotDULT},
		{name: "Apple Offline Finding", addr: airTag, ad: "07 ff 4c 00 12 02 00 01", err: ErrNotDULT},
		{name: "empty", addr: airTag, ad: "", err: ErrNotDULT},
		{name: "no status byte", addr: airTag, ad: "04 16 b2 fc 01", err: ErrDULTLength, errOffset: 0},
		{name: "23 proprietary bytes", addr: airTag, ad: "1c 16 b2 fc 01 00" + strings.Repeat("ee", 23), err: ErrDULTLength},
		{name: "overrun", addr: airTag, ad: "02 01 06 09 16 b2 fc 01 01", err: ErrADOverrun, errOffset: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ad, err := hex.DecodeString(strings.ReplaceAll(tc.ad, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseDULT(tc.addr, ad)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				var fe *FrameError
				if tc.err != ErrNotDULT && (!errors.Is(err, ErrMalformed) || !errors.As(err, &fe) || fe.Offset != tc.errOffset) {
					t.Errorf("error %v, want a FrameError at offset %d wrapping ErrMalformed", err, tc.errOffset)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Network != tc.want.Network || got.NearOwner != tc.want.NearOwner || got.Status != tc.want.Status ||
				!bytes.Equal(got.Proprietary, tc.want.Proprietary) || got.KeyAddress != tc.want.KeyAddress || got.Prefix != tc.want.Prefix {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDULTNetworkNames(t *testing.T) {
	for n, want := range map[DULTNetwork]string{1: "apple", 2: "google", 0: "reserved-0x00", 0xFF: "reserved-0xff", 0x05: "0x05"} {
		if got := n.String(); got != want {
			t.Errorf("network %d: %q, want %q", n, got, want)
		}
	}
}

// FuzzParseDULT checks that ParseDULT never panics, returns only its
// errors, and that what it accepts encodes back to the same service data.
func FuzzParseDULT(f *testing.F) {
	f.Add([]byte{0xFB, 0x6D, 0x08, 0x3D, 0x25, 0xA4}, []byte{0x07, 0x16, 0xB2, 0xFC, 0x01, 0x01, 0x10, 0x03})
	f.Add([]byte{1, 2, 3, 4, 5, 6}, []byte{0x02, 0x01, 0x06, 0x04, 0x16, 0xB2, 0xFC, 0x02})
	f.Fuzz(func(t *testing.T, addrBytes, ad []byte) {
		var addr [6]byte
		copy(addr[:], addrBytes)
		a, err := ParseDULT(addr, ad)
		if err != nil {
			if err != ErrNotDULT && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is neither ErrNotDULT nor malformed", err)
			}
			return
		}
		if a.KeyAddress != (addr[0]&0xC0 == 0xC0) || a.Prefix[0]&0xC0 != 0 {
			t.Fatalf("address %X gave %+v", addr, a)
		}
		_, again, err := EncodeDULT(a.Prefix, a.Network, a.NearOwner, a.Proprietary)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(ad, again[:len(again)-len(a.Proprietary)-1]) {
			t.Fatalf("re-encoded %X not in %X", again, ad)
		}
	})
}

func TestEncodeDULTRoundTrip(t *testing.T) {
	p := Prefix{0x3B, 0x6D, 0x08, 0x3D, 0x25, 0xA4}
	addr, ad, err := EncodeDULT(p, DULTNetworkApple, true, []byte{0x10, 0x03})
	if err != nil {
		t.Fatal(err)
	}
	if addr != [6]byte{0xFB, 0x6D, 0x08, 0x3D, 0x25, 0xA4} || !bytes.Equal(ad, []byte{0x07, 0x16, 0xB2, 0xFC, 0x01, 0x01, 0x10, 0x03}) {
		t.Errorf("EncodeDULT gave %X %X", addr, ad)
	}
	if _, _, err := EncodeDULT(p, DULTNetworkApple, false, make([]byte, 23)); !errors.Is(err, ErrDULTLength) {
		t.Errorf("23 proprietary bytes: %v", err)
	}
}
