package findmy

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	Error      string `json:"error"`
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
			if c.Error != "" {
				if err == nil || !strings.Contains(err.Error(), c.Error) {
					t.Fatalf("Parse error = %v, want one containing %q", err, c.Error)
				}
				return
			}
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
		var err error
		if fromPrivate {
			err = Schedule(sk0, &d0, nil, 0, uint64(len(doc.Keys)), func(k RollingKey) error { got = append(got, k); return nil })
		} else {
			err = Schedule(sk0, nil, &p0, 0, uint64(len(doc.Keys)), func(k RollingKey) error { got = append(got, k); return nil })
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
			case hex.EncodeToString(u.FillBytes(make([]byte, 28))) != want.U || hex.EncodeToString(v.FillBytes(make([]byte, 28))) != want.V:
				t.Errorf("key %d: u, v = %x, %x, want %s, %s", i, u, v, want.U, want.V)
			case k.Public.Key().String() != want.AdvertisedKey:
				t.Errorf("private=%v key %d: advertised %v, want %s", fromPrivate, i, k.Public.Key(), want.AdvertisedKey)
			case hex.EncodeToString(k.Public.Bytes()) != want.PublicKey:
				t.Errorf("private=%v key %d: public %x, want %s", fromPrivate, i, k.Public.Bytes(), want.PublicKey)
			case fromPrivate && hex.EncodeToString(k.Private.Bytes()) != want.PrivateKey:
				t.Errorf("key %d: private %x, want %s", i, k.Private.Bytes(), want.PrivateKey)
			}
			if key := k.Public.Key(); !OnCurve(&key) {
				t.Errorf("key %d: derived key %v is not on the curve", i, key)
			}
		}
	}
	// From an offset: the same keys as counting from zero.
	var third RollingKey
	if err := Schedule(sk0, nil, &p0, 2, 1, func(k RollingKey) error { third = k; return nil }); err != nil {
		t.Fatal(err)
	}
	if third.Index != 2 || third.Public.Key().String() != doc.Keys[2].AdvertisedKey {
		t.Errorf("Schedule from 2: index %d key %v, want 2 %s", third.Index, third.Public.Key(), doc.Keys[2].AdvertisedKey)
	}
	if err := Schedule(sk0, &d0, &p0, 0, 1, func(RollingKey) error { return nil }); err == nil {
		t.Error("Schedule with both keys: no error")
	}
	stop := errors.New("stop")
	if err := Schedule(sk0, &d0, nil, 0, 5, func(RollingKey) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Schedule callback error = %v, want %v", err, stop)
	}
}

func TestParseKeyErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
		parse          func(string) error
	}{
		{"key too short", "00", "want 56 hex digits", func(s string) error { _, err := ParseKey(s); return err }},
		{"key not hex", strings.Repeat("zz", 28), "invalid byte", func(s string) error { _, err := ParseKey(s); return err }},
		{"private zero", strings.Repeat("00", 28), "not in 1..n-1", func(s string) error { _, err := ParsePrivateKey(s); return err }},
		{"private too long", strings.Repeat("01", 29), "want 28 bytes", func(s string) error { _, err := ParsePrivateKey(s); return err }},
		{"public off curve", "04" + strings.Repeat("01", 56), "not a point on P-224", func(s string) error { _, err := ParsePublicKey(s); return err }},
		{"public bare x", strings.Repeat("01", 28), "want 57 (uncompressed) or 29 (compressed)", func(s string) error { _, err := ParsePublicKey(s); return err }},
	}
	for _, c := range cases {
		if err := c.parse(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range frameCases(f) {
		b, _ := hex.DecodeString(strings.ReplaceAll(c.Address, ":", ""))
		ad, _ := hex.DecodeString(c.AD)
		f.Add(b, ad)
	}
	f.Fuzz(func(t *testing.T, addrBytes, ad []byte) {
		var addr [6]byte
		copy(addr[:], addrBytes)
		a, err := Parse(addr, ad)
		if err != nil {
			if a != (Advertisement{}) {
				t.Fatalf("error %v with a non-zero result %+v", err, a)
			}
			if err != ErrNotApple && err != ErrNotOfflineFinding && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is neither a sentinel nor wraps ErrMalformed", err)
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
		if x.Cmp(p224.P) < 0 {
			y2 := new(big.Int).Mul(x, x)
			y2.Mul(y2, x).Sub(y2, new(big.Int).Mul(x, bigThree)).Add(y2, p224.B).Mod(y2, p224.P)
			want = big.Jacobi(y2, p224.P) >= 0
		}
		if got := OnCurve(&k); got != want {
			t.Fatalf("OnCurve(%v) = %v, math/big says %v", k, got, want)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	var doc scheduleDoc
	loadJSON(f, "schedule.json", &doc)
	f.Add(doc.PublicKey0)
	f.Add("02" + doc.PublicKey0[2:58])
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePublicKey(s)
		if err != nil {
			return
		}
		if !p224.IsOnCurve(p.X, p.Y) {
			t.Fatalf("accepted %q, which is off the curve", s)
		}
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	var doc scheduleDoc
	loadJSON(f, "schedule.json", &doc)
	f.Add(doc.PrivateKey0)
	f.Add(strings.Repeat("ff", 28))
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParsePrivateKey(s)
		if err != nil {
			return
		}
		if d.D.Sign() <= 0 || d.D.Cmp(p224.N) >= 0 {
			t.Fatalf("accepted %q, outside 1..n-1", s)
		}
		if got := hex.EncodeToString(d.Bytes()); !strings.EqualFold(got, s) {
			t.Fatalf("%q re-encodes as %s", s, got)
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

func FuzzJacobi(f *testing.F) {
	f.Add([]byte{5}, []byte{21})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, ab, nb []byte) {
		if len(ab) > 32 || len(nb) > 32 {
			return
		}
		a, n := new(big.Int).SetBytes(ab), new(big.Int).SetBytes(nb)
		if n.Bit(0) == 0 {
			return
		}
		if got, want := jacobi(limbsOf(a), limbsOf(n)), big.Jacobi(a, n); got != want {
			t.Fatalf("jacobi(%x, %x) = %d, math/big says %d", a, n, got, want)
		}
	})
}
