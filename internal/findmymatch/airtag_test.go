package findmymatch

import (
	"context"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/hci"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
	"github.com/pact-findmy/pact-findmy/pact"
)

// TestCarriedAirTag follows an AirTag carried by its owner from the air to
// a match: the tag sends only short-form frames (near-owner mode) with the
// keys of its schedule, the harvester turns them into 48-bit partial
// sightings, the device database stores them, and the owner's published
// keys find them, in the two slots the tag was near and in no other.
func TestCarriedAirTag(t *testing.T) {
	var sk0 findmy.Secret
	if _, err := hex.Decode(sk0[:], []byte("93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba")); err != nil {
		t.Fatal(err)
	}
	d0, err := findmy.ParsePrivateKey("4a28f17c3ca9f90f49894f5b3ff8cf4a74e66475f0c121d592a2bd2d")
	if err != nil {
		t.Fatal(err)
	}
	// Paired 100 slots before t0, so key 100 is current from t0.
	epoch := t0 - 100*15
	var published []exposureclient.FindMyKey
	if err := findmy.ScheduleFromPrivateKey(sk0, d0, 98, 5, func(rk findmy.RollingKey) error {
		start := epoch + pact.Minute(rk.Index)*15
		published = append(published, signed(t, *rk.Private, start, start+14, false, "CH"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	carried := published[2:4] // keys 100 and 101

	// The tag is near the device from t0+6 to t0+21: the last nine minutes
	// of key 100 and the first seven of key 101, a frame every 2 s. A
	// stranger's tag is near throughout.
	status := findmy.MakeStatus(findmy.BatteryFull, findmy.DeviceAirTag, true)
	stranger := findmy.Prefix{0xE1, 0x02, 0x03, 0x04, 0x05, 0x06}
	h := harvest.New()
	batch := harvest.NewPartialBatch(64)
	var res harvest.Result
	wantMinutes := map[findmy.Key][]pact.Minute{}
	for at := (t0 + 6).Time(); at.Before((t0 + 22).Time()); at = at.Add(2 * time.Second) {
		m := pact.MinuteOf(at)
		k := carried[0].Key
		if m > carried[0].End {
			k = carried[1].Key
		}
		if len(wantMinutes[k]) == 0 || wantMinutes[k][len(wantMinutes[k])-1] != m {
			wantMinutes[k] = append(wantMinutes[k], m)
		}
		for _, p := range []findmy.Prefix{k.Prefix(), stranger} {
			addr, ad := findmy.EncodeShort(p, status)
			r := hci.AdvReport{Type: hci.PDUAdvNonconnInd, AddrType: 1, Addr: addr, Data: ad[:], RSSI: -58, Time: at}
			if kind := h.Parse(&r, &res); kind != harvest.KindFindMyPartial {
				t.Fatalf("frame at %v parsed as %v, want %v", at, kind, harvest.KindFindMyPartial)
			}
			batch.Add(res.Partial())
		}
	}
	var rows []devicedb.PartialSighting
	for _, p := range batch.Take() {
		rows = append(rows, devicedb.PartialSighting(p))
	}
	db := openDB(t)
	ctx := context.Background()
	if err := db.AddPartialSightings(ctx, rows); err != nil {
		t.Fatal(err)
	}

	ms, err := New(db).MatchBatch(ctx, &exposureclient.Batch{ID: "region-1", Region: "CH", FindMy: published})
	if err != nil {
		t.Fatal(err)
	}
	got := map[findmy.Key][]pact.Minute{}
	for _, m := range ms {
		if m.Evidence != devicedb.EvidenceFindMyPartial || m.Bits != devicedb.PartialBitsShort || m.RSSI != -58 || m.Batch != "region-1" {
			t.Errorf("match %+v: want 48-bit partial evidence at -58 dBm from batch region-1", m)
		}
		got[m.Key] = append(got[m.Key], m.Heard)
	}
	if len(got) != 2 {
		t.Errorf("matched %d keys, want the 2 carried ones", len(got))
	}
	for _, k := range carried {
		if !slices.Equal(got[k.Key], wantMinutes[k.Key]) {
			t.Errorf("key %s: matched minutes %v, want %v", k.Key, got[k.Key], wantMinutes[k.Key])
		}
	}
	if len(wantMinutes[carried[0].Key]) != 9 || len(wantMinutes[carried[1].Key]) != 7 {
		t.Fatalf("fixture: heard %d and %d minutes, want 9 and 7", len(wantMinutes[carried[0].Key]), len(wantMinutes[carried[1].Key]))
	}

	// Published alone, key 100 is a single slot: its prefix is not enough.
	ms, err = Match(ctx, db, published[2:3], Options{BatchID: "region-1"})
	if err != nil || len(ms) != 0 {
		t.Fatalf("single published key: %d matches, %v; want none", len(ms), err)
	}
}

// signed returns the published entry of d's key with window start..end and
// its proof of possession for region (docs/findmy.md §8).
func signed(t testing.TB, d findmy.PrivateKey, start, end pact.Minute, secondary bool, region string) exposureclient.FindMyKey {
	t.Helper()
	k := exposureclient.FindMyKey{Key: d.Public().Key(), Start: start, End: end, Secondary: secondary}
	p, err := findmy.SignProof(d, findmy.Statement{Key: k.Key, Kind: KindOf(&k), Start: uint32(start), End: uint32(end), Region: region})
	if err != nil {
		t.Fatal(err)
	}
	k.Proof = p
	return k
}

// testAccessory returns the test key pair of findmy/testdata/vectors and
// its primary and secondary secrets.
func testAccessory(t testing.TB) (d0 findmy.PrivateKey, sk0, sks0 findmy.Secret) {
	t.Helper()
	if _, err := hex.Decode(sk0[:], []byte("93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba")); err != nil {
		t.Fatal(err)
	}
	sks0 = findmy.Secret(findmy.KDF(sk0[:], []byte("test secondary secret"), findmy.SecretSize))
	d0, err := findmy.ParsePrivateKey("4a28f17c3ca9f90f49894f5b3ff8cf4a74e66475f0c121d592a2bd2d")
	if err != nil {
		t.Fatal(err)
	}
	return d0, sk0, sks0
}

// TestVerified checks that only keys whose proof verifies for the batch's
// region take part, and that the others are counted (docs/findmy.md §7.0).
func TestVerified(t *testing.T) {
	d0, sk0, _ := testAccessory(t)
	var ds []findmy.PrivateKey
	if err := findmy.ScheduleFromPrivateKey(sk0, d0, 0, 2, func(k findmy.RollingKey) error {
		ds = append(ds, *k.Private)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	good := signed(t, ds[0], t0, t0+14, false, "CH")
	widened := good
	widened.End = t0 + 29 // a window the owner did not sign
	promoted := good
	promoted.Secondary = true // a kind the owner did not sign
	otherRegion := signed(t, ds[1], t0, t0+14, false, "DE")
	unsigned := exposureclient.FindMyKey{Key: ds[1].Public().Key(), Start: t0, End: t0 + 14}
	forged := signed(t, ds[1], t0, t0+14, false, "CH")
	forged.Key = good.Key // another key's proof
	for _, tc := range []struct {
		name        string
		keys        []exposureclient.FindMyKey
		wantKept    int
		wantDropped int
	}{
		{"a signed key", []exposureclient.FindMyKey{good}, 1, 0},
		{"a widened window", []exposureclient.FindMyKey{good, widened}, 1, 1},
		{"a primary key turned secondary", []exposureclient.FindMyKey{promoted}, 0, 1},
		{"a proof for another region", []exposureclient.FindMyKey{otherRegion}, 0, 1},
		{"no proof, as in a version-1 batch", []exposureclient.FindMyKey{unsigned}, 0, 1},
		{"another key's proof", []exposureclient.FindMyKey{forged}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept, dropped := Verified(tc.keys, "CH")
			if len(kept) != tc.wantKept || dropped != tc.wantDropped {
				t.Fatalf("kept %d, dropped %d; want %d and %d", len(kept), dropped, tc.wantKept, tc.wantDropped)
			}
			m := New(openDB(t))
			if _, err := m.MatchBatch(context.Background(), &exposureclient.Batch{ID: "b", Region: "CH", FindMy: tc.keys}); err != nil {
				t.Fatal(err)
			}
			if st := m.Stats(); st.Keys != uint64(len(tc.keys)) || st.Dropped != uint64(tc.wantDropped) {
				t.Fatalf("stats %+v, want %d keys and %d dropped", st, len(tc.keys), tc.wantDropped)
			}
		})
	}
}

// TestIndexDrift follows an accessory whose key index runs one period
// ahead of or behind its nominal schedule (docs/findmy.md §5.4): its
// owner publishes the nominal windows, and the key still counts when
// heard one period off, but not two. The same holds for a secondary key a
// day off (§9.2).
func TestIndexDrift(t *testing.T) {
	d0, sk0, sks0 := testAccessory(t)
	epoch := t0 - 100*15
	var primary []exposureclient.FindMyKey
	if err := findmy.ScheduleFromPrivateKey(sk0, d0, 100, 1, func(k findmy.RollingKey) error {
		primary = append(primary, signed(t, *k.Private, epoch+100*15, epoch+100*15+14, false, "CH"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var secondary []exposureclient.FindMyKey
	dayStart := t0 - 240
	if err := findmy.SecondaryKeysFromPrivateKey(sks0, d0, 5, 1, func(k findmy.RollingKey) error {
		secondary = append(secondary, signed(t, *k.Private, dayStart, dayStart+pact.MinutesPerDay-1, true, "CH"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p, s := primary[0], secondary[0]
	for _, tc := range []struct {
		name  string
		key   exposureclient.FindMyKey
		heard pact.Minute
		want  bool
	}{
		{"primary, in its slot", p, p.Start + 7, true},
		{"primary, one index late: heard through the next slot", p, p.End + 15, true},
		{"primary, one index early: heard through the slot before", p, p.Start - 15, true},
		{"primary, two indices late", p, p.End + 16, false},
		{"primary, two indices early", p, p.Start - 16, false},
		{"secondary, one day late", s, s.End + pact.MinutesPerDay, true},
		{"secondary, one day early", s, s.Start - pact.MinutesPerDay, true},
		{"secondary, two days late", s, s.End + pact.MinutesPerDay + 1, false},
		{"secondary, two days early", s, s.Start - pact.MinutesPerDay - 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			ctx := context.Background()
			if err := db.AddSightings(ctx, []pact.Sighting{{Chirp: pact.Chirp(tc.key.Key), Minute: tc.heard, RSSI: -70, Source: pact.SourceFindMy}}); err != nil {
				t.Fatal(err)
			}
			ms, err := New(db).MatchBatch(ctx, &exposureclient.Batch{ID: "b", Region: "CH", FindMy: []exposureclient.FindMyKey{p, s}})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ms) == 1 && ms[0].Heard == tc.heard && ms[0].Key == tc.key.Key; got != tc.want {
				t.Fatalf("matches %+v: matched = %v, want %v", ms, got, tc.want)
			}
			if tc.want && ms[0].Secondary != tc.key.Secondary {
				t.Fatalf("match %+v: secondary %v, want %v", ms[0], ms[0].Secondary, tc.key.Secondary)
			}
		})
	}
}
