package findmy

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

type proofCase struct {
	Name       string `json:"name"`
	PrivateKey string `json:"private_key"`
	Key        string `json:"key"`
	YEven      bool   `json:"y_even"`
	Kind       uint8  `json:"kind"`
	Start      uint32 `json:"start"`
	End        uint32 `json:"end"`
	Region     string `json:"region"`
	Statement  string `json:"statement"`
	Digest     string `json:"digest"`
	Proof      string `json:"proof"`
	Verify     string `json:"verify"`
}

func (c proofCase) statement(t testing.TB) Statement {
	return Statement{Key: Key(mustHex(t, c.Key)), Kind: KeyKind(c.Kind), Start: c.Start, End: c.End, Region: c.Region}
}

var verifyOutcome = map[string]error{
	"ok":        nil,
	"invalid":   ErrProofInvalid,
	"encoding":  ErrProofEncoding,
	"statement": ErrStatement,
}

// TestProofVectors checks package findmy against the proofs that
// generate.py computed through the cryptography package: the statement's
// digest, the deterministic signature byte for byte, and every verdict.
func TestProofVectors(t *testing.T) {
	var doc struct{ Cases []proofCase }
	loadJSON(t, "proofs.json", &doc)
	sawEven, sawOdd := false, false
	for _, c := range doc.Cases {
		t.Run(c.Name, func(t *testing.T) {
			st := c.statement(t)
			digest, err := st.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(digest[:]); got != c.Digest {
				t.Errorf("digest %s, want %s", got, c.Digest)
			}
			p := Proof(mustHex(t, c.Proof))
			want, ok := verifyOutcome[c.Verify]
			if !ok {
				t.Fatalf("unknown verdict %q", c.Verify)
			}
			if err := VerifyProof(st, p); !errors.Is(err, want) || (want == nil) != (err == nil) {
				t.Errorf("VerifyProof = %v, want %v", err, want)
			}
			if c.PrivateKey == "" {
				return
			}
			d, err := ParsePrivateKey(c.PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			if d.Public().Key() != st.Key {
				t.Fatalf("d*G has x %s, want %s", d.Public().Key(), st.Key)
			}
			if c.YEven {
				sawEven = true
			} else {
				sawOdd = true
			}
			got, err := SignProof(d, st)
			if err != nil {
				t.Fatal(err)
			}
			if got != p {
				t.Errorf("SignProof = %s, want %s", got, c.Proof)
			}
		})
	}
	if !sawEven || !sawOdd {
		t.Errorf("vectors cover even y %v and odd y %v, want both", sawEven, sawOdd)
	}
}

func TestSignProofRefusals(t *testing.T) {
	var doc struct{ Cases []proofCase }
	loadJSON(t, "proofs.json", &doc)
	c := doc.Cases[0]
	d, err := ParsePrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ParsePrivateKey(doc.Cases[1].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	st := c.statement(t)
	tests := []struct {
		name string
		d    PrivateKey
		edit func(*Statement)
		want error
	}{
		{"another key's scalar", other, func(*Statement) {}, ErrStatement},
		{"window ends before it starts", d, func(s *Statement) { s.End = s.Start - 1 }, ErrStatement},
		{"unknown kind", d, func(s *Statement) { s.Kind = 2 }, ErrStatement},
		{"region too long", d, func(s *Statement) { s.Region = strings.Repeat("a", MaxStatementRegion+1) }, ErrStatement},
		{"no region", d, func(s *Statement) { s.Region = "" }, ErrStatement},
		{"zero private key", PrivateKey{}, func(*Statement) {}, ErrStatement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := st
			tt.edit(&s)
			if _, err := SignProof(tt.d, s); !errors.Is(err, tt.want) {
				t.Errorf("SignProof = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestProofRoundTrip signs statements with keys of both y parities and
// checks that each proof verifies for its statement only.
func TestProofRoundTrip(t *testing.T) {
	var doc scheduleDoc
	loadJSON(t, "schedule.json", &doc)
	d0, err := ParsePrivateKey(doc.PrivateKey0)
	if err != nil {
		t.Fatal(err)
	}
	err = ScheduleFromPrivateKey(Secret(mustHex(t, doc.Secret0)), d0, 100, 6, func(k RollingKey) error {
		st := Statement{Key: k.Public.Key(), Start: 1000, End: 1014, Region: "ch"}
		p, err := SignProof(*k.Private, st)
		if err != nil {
			return err
		}
		if err := VerifyProof(st, p); err != nil {
			t.Errorf("key %d: %v", k.Index, err)
		}
		moved := st
		moved.Start++
		if err := VerifyProof(moved, p); !errors.Is(err, ErrProofInvalid) {
			t.Errorf("key %d, moved window: %v, want ErrProofInvalid", k.Index, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseProof(t *testing.T) {
	var doc struct{ Cases []proofCase }
	loadJSON(t, "proofs.json", &doc)
	good := doc.Cases[0].Proof
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"valid", good, nil},
		{"upper case", strings.ToUpper(good), nil},
		{"short", good[:110], ErrProofEncoding},
		{"long", good + "00", ErrProofEncoding},
		{"not hex", "zz" + good[2:], ErrProofEncoding},
		{"zero", strings.Repeat("0", 112), ErrProofEncoding},
		{"all ones", strings.Repeat("f", 112), ErrProofEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProof(tt.in)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ParseProof = %v, want %v", err, tt.want)
			}
			if err == nil && p.String() != strings.ToLower(tt.in) {
				t.Errorf("round trip %s, want %s", p, strings.ToLower(tt.in))
			}
		})
	}
}

// FuzzParseProof: ParseProof never panics, accepts exactly the
// well-formed encodings, and what it accepts prints back as its input.
// Verifying any accepted proof against a fixed statement never panics.
func FuzzParseProof(f *testing.F) {
	var doc struct{ Cases []proofCase }
	loadJSON(f, "proofs.json", &doc)
	for _, c := range doc.Cases {
		f.Add(c.Proof, c.Key)
	}
	f.Add(strings.Repeat("0", 112), strings.Repeat("0", 56))
	f.Fuzz(func(t *testing.T, s, key string) {
		p, err := ParseProof(s)
		if err != nil {
			if !errors.Is(err, ErrProofEncoding) {
				t.Fatalf("%q: %v does not wrap ErrProofEncoding", s, err)
			}
			return
		}
		if p.String() != strings.ToLower(s) {
			t.Fatalf("%q reads back as %s", s, p)
		}
		if CheckProofEncoding(p) != nil {
			t.Fatalf("%q: accepted, CheckProofEncoding refuses it", s)
		}
		k, err := ParseKey(key)
		if err != nil {
			return
		}
		err = VerifyProof(Statement{Key: k, Start: 1, End: 15, Region: "ch"}, p)
		if err != nil && !errors.Is(err, ErrProofInvalid) && !errors.Is(err, ErrStatement) {
			t.Fatalf("VerifyProof(%s, %s) = %v, want ErrProofInvalid or ErrStatement", k, p, err)
		}
	})
}

type secondaryDoc struct {
	SecondarySecret0 string `json:"secondary_secret0"`
	PrivateKey0      string `json:"private_key0"`
	Keys             []struct {
		Index         uint64 `json:"index"`
		Secret        string `json:"secret"`
		PrivateKey    string `json:"private_key"`
		AdvertisedKey string `json:"advertised_key"`
	} `json:"keys"`
	Rollovers []struct {
		Paired        string `json:"paired"`
		FirstRollover string `json:"first_rollover"`
		Windows       []struct {
			Index    uint64 `json:"index"`
			From, To string
		} `json:"windows"`
		IndexAt []struct {
			Time  string `json:"time"`
			Index uint64 `json:"index"`
		} `json:"index_at"`
	} `json:"rollovers"`
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSecondaryKeyVectors(t *testing.T) {
	var doc secondaryDoc
	loadJSON(t, "secondary.json", &doc)
	d0, err := ParsePrivateKey(doc.PrivateKey0)
	if err != nil {
		t.Fatal(err)
	}
	var got []RollingKey
	err = SecondaryKeysFromPrivateKey(Secret(mustHex(t, doc.SecondarySecret0)), d0, 0, uint64(len(doc.Keys)), func(k RollingKey) error {
		got = append(got, k)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range doc.Keys {
		k := got[i]
		if k.Index != want.Index || k.Secret.String() != want.Secret || hex.EncodeToString(k.Private.Bytes()) != want.PrivateKey || k.Public.Key().String() != want.AdvertisedKey {
			t.Errorf("secondary key %d: index %d SKS %s d %x key %s, want %+v", i, k.Index, k.Secret, k.Private.Bytes(), k.Public.Key(), want)
		}
	}
}

func TestSecondaryRolloverVectors(t *testing.T) {
	var doc secondaryDoc
	loadJSON(t, "secondary.json", &doc)
	for _, r := range doc.Rollovers {
		t.Run(r.Paired, func(t *testing.T) {
			paired := mustTime(t, r.Paired)
			if got := FirstSecondaryRollover(paired); !got.Equal(mustTime(t, r.FirstRollover)) {
				t.Errorf("first rollover %s, want %s", got.Format(time.RFC3339), r.FirstRollover)
			}
			for _, w := range r.Windows {
				from, to, err := SecondaryWindow(paired, w.Index)
				if err != nil {
					t.Fatal(err)
				}
				if !from.Equal(mustTime(t, w.From)) || !to.Equal(mustTime(t, w.To)) {
					t.Errorf("key %d window %s..%s, want %s..%s", w.Index, from.Format(time.RFC3339), to.Format(time.RFC3339), w.From, w.To)
				}
			}
			for _, a := range r.IndexAt {
				if got := SecondaryIndexAt(paired, mustTime(t, a.Time)); got != a.Index {
					t.Errorf("index at %s = %d, want %d", a.Time, got, a.Index)
				}
			}
		})
	}
}

func TestSecondaryWindowRefusals(t *testing.T) {
	paired := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		j    uint64
		want error
	}{
		{"index 0 is never advertised", 0, ErrKeyIndex},
		{"past a century", 2 + maxSecondaryDays + 1, ErrKeyIndex},
		{"last allowed", 2 + maxSecondaryDays, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := SecondaryWindow(paired, tt.j); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("SecondaryWindow(%d) = %v, want %v", tt.j, err, tt.want)
			}
		})
	}
}
