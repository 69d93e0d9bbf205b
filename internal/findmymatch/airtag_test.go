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
		published = append(published, exposureclient.FindMyKey{Key: rk.Public.Key(), Start: start, End: start + 14})
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

	ms, err := New(db).MatchBatch(ctx, &exposureclient.Batch{ID: "region-1", FindMy: published})
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
