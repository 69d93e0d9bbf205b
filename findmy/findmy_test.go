package findmy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type frameCase struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	AddressHCI string `json:"address_hci"`
	AD         string `json:"ad"`
	Form       string `json:"form"`
	Status     int    `json:"status"`
	Battery    string `json:"battery"`
	DeviceType string `json:"device_type"`
	Maintained bool   `json:"maintained"`
	Key        string `json:"key"`
	Prefix     string `json:"prefix"`
	Hint       int    `json:"hint"`
	OnCurve    *bool  `json:"on_curve"`
	Canonical  bool   `json:"canonical"`
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func displayAddr(t testing.TB, s string) [6]byte {
	t.Helper()
	b := mustHex(t, strings.ReplaceAll(s, ":", ""))
	if len(b) != 6 {
		t.Fatalf("address %q: %d bytes", s, len(b))
	}
	return [6]byte(b)
}

func frameCases(t testing.TB) []frameCase {
	var doc struct{ Cases []frameCase }
	loadJSON(t, "frames.json", &doc)
	if len(doc.Cases) == 0 {
		t.Fatal("frames.json has no cases")
	}
	return doc.Cases
}

func TestParseVectors(t *testing.T) {
	for _, c := range frameCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			addr := displayAddr(t, c.Address)
			ad := mustHex(t, c.AD)
			a, err := Parse(addr, ad)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if a.Form.String() != c.Form || int(a.Status) != c.Status {
				t.Errorf("form %v status %d, want %s %d", a.Form, a.Status, c.Form, c.Status)
			}
			if a.Status.Battery().String() != c.Battery || a.Status.DeviceType().String() != c.DeviceType || a.Status.Maintained() != c.Maintained {
				t.Errorf("status decodes to %v/%v/%v, want %s/%s/%v", a.Status.Battery(), a.Status.DeviceType(), a.Status.Maintained(), c.Battery, c.DeviceType, c.Maintained)
			}
			if a.Prefix.String() != c.Prefix {
				t.Errorf("prefix %v, want %s", a.Prefix, c.Prefix)
			}
			if a.Form == FormFull {
				if a.Key.String() != c.Key {
					t.Errorf("key %v, want %s", a.Key, c.Key)
				}
				if int(a.Hint) != c.Hint {
					t.Errorf("hint %d, want %d", a.Hint, c.Hint)
				}
			}
			if c.OnCurve != nil && OnCurve(&a.Key) != *c.OnCurve {
				t.Errorf("OnCurve = %v, want %v", !*c.OnCurve, *c.OnCurve)
			}
			if c.Canonical {
				var gotAddr [6]byte
				var gotAD []byte
				if a.Form == FormFull {
					var full [FullADSize]byte
					gotAddr, full = EncodeFull(a.Key, a.Status, a.Hint)
					gotAD = full[:]
				} else {
					var short [ShortADSize]byte
					gotAddr, short = EncodeShort(a.Prefix, a.Status)
					gotAD = short[:]
				}
				if gotAddr != addr || !bytes.Equal(gotAD, ad) {
					t.Errorf("encode = %x %x, want %x %x", gotAddr, gotAD, addr, ad)
				}
			}
		})
	}
}

// frameRejections are advertisements Parse must refuse, with the sentinel
// and, for broken frames, the offset and lengths the error names.
var frameRejections = []struct {
	name  string
	ad    string
	err   error
	frame *FrameError
}{
	{"Apple proximity pairing (type 0x07) is not a key", "1eff4c000719010e2011aa8f01000000000000000000000000000000000000", ErrNotOfflineFinding, nil},
	{"Apple nearby info (type 0x10) is not a key", "0aff4c0010050b1c0d2a93", ErrNotOfflineFinding, nil},
	{"another company's manufacturer data", "0201061aff75004204010166aabbccddeeff0011223344556677889900aa", ErrNotApple, nil},
	{"empty advertising data", "", ErrNotApple, nil},
	{"AD structure overruns the data", "1eff4c001219102807ce0b3c33332ed37b5d9d8291b1d99d0b86151897", ErrADOverrun, &FrameError{Offset: 0, Length: 30, Left: 28}},
	{"AD structure after a good one overruns", "02010603ff4c", ErrADOverrun, &FrameError{Offset: 3, Length: 3, Left: 2}},
	{"Offline Finding item with an unknown length", "08ff4c00120310ab01", ErrPayloadLength, &FrameError{Offset: 6, Length: 3, Left: 3}},
	{"Apple item overruns the manufacturer data", "07ff4c0012051000", ErrItemOverrun, &FrameError{Offset: 4, Length: 5, Left: 2}},
	{"Apple item cut after its type", "04ff4c0012", ErrItemTruncated, &FrameError{Offset: 4, Length: 1, Left: 1}},
	{"Apple item cut after a whole one", "08ff4c0010020b0c12", ErrItemTruncated, &FrameError{Offset: 8, Length: 1, Left: 1}},
}

func TestParseRejects(t *testing.T) {
	addr := [6]byte{0xFB, 0x6D, 0x08, 0x3D, 0x25, 0xA4}
	for _, c := range frameRejections {
		t.Run(c.name, func(t *testing.T) {
			a, err := Parse(addr, mustHex(t, c.ad))
			if !errors.Is(err, c.err) || a != (Advertisement{}) {
				t.Fatalf("Parse = %+v, %v; want %v", a, err, c.err)
			}
			var fe *FrameError
			if c.frame == nil {
				if err != c.err {
					t.Fatalf("Parse error %v, want %v itself (no allocation for foreign frames)", err, c.err)
				}
				return
			}
			if !errors.As(err, &fe) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v is not a *FrameError wrapping ErrMalformed", err)
			}
			if fe.Offset != c.frame.Offset || fe.Length != c.frame.Length || fe.Left != c.frame.Left {
				t.Errorf("error at offset %d length %d left %d, want %d %d %d", fe.Offset, fe.Length, fe.Left, c.frame.Offset, c.frame.Length, c.frame.Left)
			}
		})
	}
}

// The address of an HCI LE Advertising Report is least significant byte
// first; a source that forgets to reverse it yields a different key, and
// the vectors pin down which order is right.
func TestAddressByteOrder(t *testing.T) {
	for _, c := range frameCases(t) {
		if c.AddressHCI == "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			wire := [6]byte(mustHex(t, c.AddressHCI))
			var display [6]byte
			for i := range wire {
				display[i] = wire[5-i]
			}
			if display != displayAddr(t, c.Address) {
				t.Fatalf("reversed HCI address %x, want %s", display, c.Address)
			}
			ad := mustHex(t, c.AD)
			right, err := Parse(display, ad)
			if err != nil {
				t.Fatal(err)
			}
			wrong, err := Parse(wire, ad)
			if err != nil {
				t.Fatal(err)
			}
			if right.Prefix.String() != c.Prefix {
				t.Errorf("display order gives prefix %v, want %s", right.Prefix, c.Prefix)
			}
			if wrong.Prefix == right.Prefix {
				t.Errorf("wire order gives the same prefix %v; the vector cannot tell the orders apart", wrong.Prefix)
			}
		})
	}
}

func TestStatusRoundTrip(t *testing.T) {
	for b := BatteryFull; b <= BatteryCritical; b++ {
		for d := DeviceApple; d <= DeviceAirPods; d++ {
			for _, m := range []bool{false, true} {
				s := MakeStatus(b, d, m)
				if s.Battery() != b || s.DeviceType() != d || s.Maintained() != m {
					t.Errorf("MakeStatus(%v, %v, %v) = %#02x decodes to %v %v %v", b, d, m, uint8(s), s.Battery(), s.DeviceType(), s.Maintained())
				}
			}
		}
	}
}

type curveCase struct {
	Name    string `json:"name"`
	Key     string `json:"key"`
	OnCurve bool   `json:"on_curve"`
}

func curveCases(t testing.TB) []curveCase {
	var doc struct{ Cases []curveCase }
	loadJSON(t, "curve.json", &doc)
	return doc.Cases
}

func TestOnCurveVectors(t *testing.T) {
	v := NewValidator(16)
	seen := map[bool]int{}
	for _, c := range curveCases(t) {
		k, err := ParseKey(c.Key)
		if err != nil {
			t.Fatal(err)
		}
		seen[c.OnCurve]++
		if got := OnCurve(&k); got != c.OnCurve {
			t.Errorf("%s: OnCurve(%v) = %v, want %v", c.Name, k, got, c.OnCurve)
		}
		for range 2 { // second round answered from the cache
			if got := v.Valid(&k); got != c.OnCurve {
				t.Errorf("%s: Validator.Valid(%v) = %v, want %v", c.Name, k, got, c.OnCurve)
			}
		}
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Fatalf("curve.json must hold keys on and off the curve, has %v", seen)
	}
	if hits, _ := v.CacheStats(); hits == 0 {
		t.Error("validator cache never hit")
	}
}

func TestJacobiAgainstMathBig(t *testing.T) {
	cases := []struct{ a, n string }{
		{"0", "1"}, {"1", "1"}, {"2", "3"}, {"5", "21"}, {"1001", "9907"}, {"19", "45"}, {"8", "21"},
		{"ffffffffffffffffffffffffffffffff", "ffffffffffffffffffffffffffffffff000000000000000000000001"},
	}
	for _, c := range cases {
		a, _ := new(big.Int).SetString(c.a, 16)
		n, _ := new(big.Int).SetString(c.n, 16)
		if got, want := jacobi(limbsOf(a), limbsOf(n)), big.Jacobi(a, n); got != want {
			t.Errorf("jacobi(%s, %s) = %d, want %d", c.a, c.n, got, want)
		}
	}
}

type scheduleDoc struct {
	SecretChain []string `json:"secret_chain"`
	KDF         []struct {
		Z      string `json:"z"`
		Info   string `json:"info"`
		Length int    `json:"length"`
		Out    string `json:"out"`
	} `json:"kdf"`
	Secret0     string `json:"secret0"`
	PrivateKey0 string `json:"private_key0"`
	PublicKey0  string `json:"public_key0"`
	Keys        []struct {
		Index         uint64 `json:"index"`
		Secret        string `json:"secret"`
		U             string `json:"u"`
		V             string `json:"v"`
		PrivateKey    string `json:"private_key"`
		AdvertisedKey string `json:"advertised_key"`
		PublicKey     string `json:"public_key"`
	} `json:"keys"`
}

func TestKDFVectors(t *testing.T) {
	var doc scheduleDoc
	loadJSON(t, "schedule.json", &doc)
	for _, c := range doc.KDF {
		if got := hex.EncodeToString(KDF(mustHex(t, c.Z), []byte(c.Info), c.Length)); got != c.Out {
			t.Errorf("KDF(%s, %q, %d) = %s, want %s", c.Z, c.Info, c.Length, got, c.Out)
		}
	}
}

func TestSecretChain(t *testing.T) {
	var doc scheduleDoc
	loadJSON(t, "schedule.json", &doc)
	sk := Secret(mustHex(t, doc.SecretChain[0]))
	for i, want := range doc.SecretChain {
		if got := sk.String(); got != want {
			t.Errorf("SK_%d = %s, want %s", i, got, want)
		}
		if got := Secret(mustHex(t, doc.SecretChain[0])).Advance(uint64(i)).String(); got != want {
			t.Errorf("Advance(%d) = %s, want %s", i, got, want)
		}
		sk = sk.Next()
	}
}

func TestScheduleVectors(t *testing.T) {
	var doc scheduleDoc
	loadJSON(t, "schedule.json", &doc)
	sk0 := Secret(mustHex(t, doc.Secret0))
	d0, err := ParsePrivateKey(doc.PrivateKey0)
	if err != nil {
		t.Fatal(err)
	}
	p0, err := ParsePublicKey(doc.PublicKey0)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(d0.Public().Bytes()); got != doc.PublicKey0 {
		t.Fatalf("d_0*G = %s, want %s", got, doc.PublicKey0)
	}
	for _, fromPrivate := range []bool{true, false} {
		var got []RollingKey
		collect := func(k RollingKey) error { got = append(got, k); return nil }
		if fromPrivate {
			err = ScheduleFromPrivateKey(sk0, d0, 0, uint64(len(doc.Keys)), collect)
		} else {
			err = ScheduleFromPublicKey(sk0, p0, 0, uint64(len(doc.Keys)), collect)
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range doc.Keys {
			k := got[i]
			u, v := k.Secret.Diversify()
			switch {
			case k.Index != want.Index || k.Secret.String() != want.Secret:
				t.Errorf("private=%v key %d: index %d secret %v, want %d %s", fromPrivate, i, k.Index, k.Secret, want.Index, want.Secret)
			case hex.EncodeToString(u[:]) != want.U || hex.EncodeToString(v[:]) != want.V:
				t.Errorf("key %d: u, v = %x, %x, want %s, %s", i, u, v, want.U, want.V)
			case k.Public.Key().String() != want.AdvertisedKey:
				t.Errorf("private=%v key %d: advertised %v, want %s", fromPrivate, i, k.Public.Key(), want.AdvertisedKey)
			case hex.EncodeToString(k.Public.Bytes()) != want.PublicKey:
				t.Errorf("private=%v key %d: public %x, want %s", fromPrivate, i, k.Public.Bytes(), want.PublicKey)
			case fromPrivate && hex.EncodeToString(k.Private.Bytes()) != want.PrivateKey:
				t.Errorf("key %d: private %x, want %s", i, k.Private.Bytes(), want.PrivateKey)
			case !fromPrivate && k.Private != nil:
				t.Errorf("key %d: a private key from the public schedule", i)
			case fromPrivate && !k.Private.Public().Equal(k.Public):
				t.Errorf("key %d: d_i*G differs from P_i", i)
			}
			if key := k.Public.Key(); !OnCurve(&key) {
				t.Errorf("key %d: derived key %v is not on the curve", i, key)
			}
		}
	}
	// From an offset: the same keys as counting from zero.
	var third RollingKey
	if err := ScheduleFromPublicKey(sk0, p0, 2, 1, func(k RollingKey) error { third = k; return nil }); err != nil {
		t.Fatal(err)
	}
	if third.Index != 2 || third.Public.Key().String() != doc.Keys[2].AdvertisedKey {
		t.Errorf("Schedule from 2: index %d key %v, want 2 %s", third.Index, third.Public.Key(), doc.Keys[2].AdvertisedKey)
	}
	// The compressed form of P_0 gives the same schedule.
	pc, err := ParsePublicKey(fmt.Sprintf("%02x", 2+p0.Bytes()[UncompressedSize-1]&1) + doc.PublicKey0[2:2+2*KeySize])
	if err != nil || !pc.Equal(p0) {
		t.Fatalf("compressed P_0 = %x, %v; want %x", pc.Bytes(), err, p0.Bytes())
	}
	if err := ScheduleFromPublicKey(sk0, PublicKey{}, 0, 1, func(RollingKey) error { return nil }); !errors.Is(err, ErrNotOnCurve) {
		t.Errorf("schedule from the zero PublicKey: error %v, want ErrNotOnCurve", err)
	}
	stop := errors.New("stop")
	if err := ScheduleFromPrivateKey(sk0, d0, 0, 5, func(RollingKey) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Schedule callback error = %v, want %v", err, stop)
	}
	if err := ScheduleFromPublicKey(sk0, p0, 0, 5, func(RollingKey) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Schedule callback error = %v, want %v", err, stop)
	}
}

func TestParseKeyErrors(t *testing.T) {
	parseKey := func(s string) error { _, err := ParseKey(s); return err }
	parsePrivate := func(s string) error { _, err := ParsePrivateKey(s); return err }
	parsePublic := func(s string) error { _, err := ParsePublicKey(s); return err }
	n := "ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3d"
	// x = 1 is on P-224 but 04 || 1 || 1 is not a point.
	cases := []struct {
		name, in string
		parse    func(string) error
		kind     string
		want     error
	}{
		{"key too short", "00", parseKey, "key", ErrKeyLength},
		{"key not hex", strings.Repeat("zz", 28), parseKey, "key", ErrKeyNotHex},
		{"private zero", strings.Repeat("00", 28), parsePrivate, "private key", ErrScalarRange},
		{"private n", n, parsePrivate, "private key", ErrScalarRange},
		{"private all ones", strings.Repeat("ff", 28), parsePrivate, "private key", ErrScalarRange},
		{"private too long", strings.Repeat("01", 29), parsePrivate, "private key", ErrKeyLength},
		{"private odd digits", "123", parsePrivate, "private key", ErrKeyNotHex},
		{"public off curve", "04" + strings.Repeat("01", 56), parsePublic, "public key", ErrNotOnCurve},
		{"public x >= p", "02" + strings.Repeat("ff", 28), parsePublic, "public key", ErrNotOnCurve},
		{"public bad prefix", "05" + strings.Repeat("01", 56), parsePublic, "public key", ErrNotOnCurve},
		{"public infinity", "00", parsePublic, "public key", ErrKeyLength},
		{"public bare x", strings.Repeat("01", 28), parsePublic, "public key", ErrKeyLength},
		{"public not hex", "0g", parsePublic, "public key", ErrKeyNotHex},
	}
	for _, c := range cases {
		err := c.parse(c.in)
		var ke *KeyError
		if !errors.Is(err, c.want) || !errors.As(err, &ke) {
			t.Errorf("%s: error %v, want a *KeyError wrapping %v", c.name, err, c.want)
			continue
		}
		if ke.Kind != c.kind || ke.Input != clip(c.in) {
			t.Errorf("%s: error names %s %q, want %s %q", c.name, ke.Kind, ke.Input, c.kind, clip(c.in))
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range frameCases(f) {
		b, _ := hex.DecodeString(strings.ReplaceAll(c.Address, ":", ""))
		ad, _ := hex.DecodeString(c.AD)
		f.Add(b, ad)
	}
	for _, c := range frameRejections {
		ad, _ := hex.DecodeString(c.ad)
		f.Add([]byte{0xFB, 0x6D, 0x08, 0x3D, 0x25, 0xA4}, ad)
	}
	f.Fuzz(func(t *testing.T, addrBytes, ad []byte) {
		var addr [6]byte
		copy(addr[:], addrBytes)
		a, err := Parse(addr, ad)
		if err != nil {
			if a != (Advertisement{}) {
				t.Fatalf("error %v with a non-zero result %+v", err, a)
			}
			var fe *FrameError
			if err != ErrNotApple && err != ErrNotOfflineFinding && !(errors.As(err, &fe) && errors.Is(err, ErrMalformed)) {
				t.Fatalf("error %v is neither a sentinel nor a *FrameError wrapping ErrMalformed", err)
			}
			if fe != nil && (fe.Offset < 0 || fe.Offset >= len(ad) || fe.Left < 0) {
				t.Fatalf("error %v names offset %d, left %d in %d bytes", err, fe.Offset, fe.Left, len(ad))
			}
			return
		}
		// What parses must re-encode to a frame that parses the same.
		switch a.Form {
		case FormFull:
			encAddr, enc := EncodeFull(a.Key, a.Status, a.Hint)
			b, err := Parse(encAddr, enc[:])
			if err != nil || b != a {
				t.Fatalf("re-encoded %+v parses as %+v, %v", a, b, err)
			}
		case FormShort:
			encAddr, enc := EncodeShort(a.Prefix, a.Status)
			b, err := Parse(encAddr, enc[:])
			if err != nil || b != a {
				t.Fatalf("re-encoded %+v parses as %+v, %v", a, b, err)
			}
		default:
			t.Fatalf("no error and form %v", a.Form)
		}
	})
}

func FuzzOnCurve(f *testing.F) {
	for _, c := range curveCases(f) {
		b, _ := hex.DecodeString(c.Key)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var k Key
		copy(k[:], b)
		x := new(big.Int).SetBytes(k[:])
		want := false
		if p := elliptic.P224().Params(); x.Cmp(p.P) < 0 {
			y2 := new(big.Int).Mul(x, x)
			y2.Mul(y2, x).Sub(y2, new(big.Int).Mul(x, bigThree)).Add(y2, p.B).Mod(y2, p.P)
			want = big.Jacobi(y2, p.P) >= 0
		}
		if got := OnCurve(&k); got != want {
			t.Fatalf("OnCurve(%v) = %v, math/big says %v", k, got, want)
		}
	})
}

// FuzzParsePublicKey checks ParsePublicKey against the standard
// library's decoder of the uncompressed form: both accept the same points,
// and what is accepted re-encodes to itself.
func FuzzParsePublicKey(f *testing.F) {
	var doc scheduleDoc
	loadJSON(f, "schedule.json", &doc)
	f.Add(doc.PublicKey0)
	f.Add("02" + doc.PublicKey0[2:58])
	f.Add("03" + doc.PublicKey0[2:58])
	f.Add("04" + strings.Repeat("01", 56))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePublicKey(s)
		b, hexErr := hex.DecodeString(s)
		if err != nil {
			var ke *KeyError
			if !errors.As(err, &ke) || ke.Kind != "public key" {
				t.Fatalf("%q: error %v is not a public key's *KeyError", s, err)
			}
			if hexErr == nil && len(b) == UncompressedSize {
				if _, stdErr := ecdsa.ParseUncompressedPublicKey(elliptic.P224(), b); stdErr == nil {
					t.Fatalf("%q: rejected (%v), crypto/ecdsa accepts it", s, err)
				}
			}
			return
		}
		enc := p.Bytes()
		std, err := ecdsa.ParseUncompressedPublicKey(elliptic.P224(), enc)
		if err != nil {
			t.Fatalf("%q: accepted as %x, which crypto/ecdsa rejects: %v", s, enc, err)
		}
		if stdEnc, _ := std.Bytes(); !bytes.Equal(stdEnc, enc) {
			t.Fatalf("%q: %x, crypto/ecdsa reads %x", s, enc, stdEnc)
		}
		if len(b) == UncompressedSize && !bytes.Equal(b, enc) {
			t.Fatalf("%q re-encodes as %x", s, enc)
		}
		if k := p.Key(); !bytes.Equal(k[:], b[1:1+KeySize]) {
			t.Fatalf("%q: key %v is not its x", s, k)
		}
	})
}

// FuzzParsePrivateKey checks ParsePrivateKey against crypto/ecdsa: both
// accept the same scalars and derive the same public key.
func FuzzParsePrivateKey(f *testing.F) {
	var doc scheduleDoc
	loadJSON(f, "schedule.json", &doc)
	f.Add(doc.PrivateKey0)
	f.Add(strings.Repeat("ff", 28))
	f.Add(strings.Repeat("00", 27) + "01")
	f.Add("ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3c")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParsePrivateKey(s)
		b, hexErr := hex.DecodeString(s)
		var std *ecdsa.PrivateKey
		var stdErr error = errors.New("not hex")
		if hexErr == nil {
			std, stdErr = ecdsa.ParseRawPrivateKey(elliptic.P224(), b)
		}
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("%q: ParsePrivateKey error %v, crypto/ecdsa error %v", s, err, stdErr)
		}
		if err != nil {
			return
		}
		if got := hex.EncodeToString(d.Bytes()); !strings.EqualFold(got, s) {
			t.Fatalf("%q re-encodes as %s", s, got)
		}
		want, _ := std.PublicKey.Bytes()
		if got := d.Public().Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("%q: d*G = %x, crypto/ecdsa says %x", s, got, want)
		}
	})
}

// FuzzDerive checks the private and the public derivation against each
// other: d_i*G must equal u*P_0 + v*G for any secret and d_0.
func FuzzDerive(f *testing.F) {
	var doc scheduleDoc
	loadJSON(f, "schedule.json", &doc)
	f.Add(mustHex(f, doc.PrivateKey0), mustHex(f, doc.Secret0))
	f.Add(bytes.Repeat([]byte{0xff}, 28), make([]byte, 32))
	f.Fuzz(func(t *testing.T, db, skb []byte) {
		d0, err := NewPrivateKey(db)
		if err != nil || len(skb) != SecretSize {
			return
		}
		sk := Secret(skb)
		di, err := d0.Derive(sk)
		if err != nil {
			t.Fatal(err)
		}
		pi, err := d0.Public().Derive(sk)
		if err != nil {
			t.Fatal(err)
		}
		if !di.Public().Equal(pi) {
			t.Fatalf("d_i*G = %x, u*P_0 + v*G = %x", di.Public().Bytes(), pi.Bytes())
		}
	})
}

func FuzzParseKey(f *testing.F) {
	for _, c := range curveCases(f) {
		f.Add(c.Key)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(k.String(), s) {
			t.Fatalf("%q re-encodes as %v", s, k)
		}
	})
}

// Many keys in a small cache: every answer must still be right, and keys
// that fit must stay cached.
func TestValidatorEviction(t *testing.T) {
	keys := benchKeys(64)
	want := make([]bool, len(keys))
	for i := range keys {
		want[i] = OnCurve(&keys[i])
	}
	for _, slots := range []int{0, 1, 4, 16, 1024} {
		v := NewValidator(slots)
		for round := 0; round < 3; round++ {
			for i := range keys {
				if got := v.Valid(&keys[i]); got != want[i] {
					t.Fatalf("slots %d round %d key %d: Valid = %v, want %v", slots, round, i, got, want[i])
				}
			}
		}
		hits, misses := v.CacheStats()
		if hits+misses != 3*uint64(len(keys)) {
			t.Errorf("slots %d: %d hits + %d misses, want %d checks", slots, hits, misses, 3*len(keys))
		}
		if slots >= 1024 && misses != uint64(len(keys)) {
			t.Errorf("slots %d: %d misses for %d keys that all fit", slots, misses, len(keys))
		}
	}
}
