package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/exposuresync"
	"github.com/pact-findmy/pact-findmy/internal/node"
	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/web"
)

// TestFindMyKeysFlaggedForReverseTracing syncs a signed batch, from a
// static mirror, with two Find My keys the node heard, one flagged for
// reverse tracing (spec §9.2): the node stores and shows the flagged key's
// match as a possible source and the other as an exposure, and its notice
// keeps them apart.
func TestFindMyKeysFlaggedForReverseTracing(t *testing.T) {
	ctx := context.Background()
	now := pact.MinuteOf(time.Now())
	slot := now - now%15 - 60 // a 15-minute slot an hour ago
	// Real keys with proofs of possession: a device matches no published
	// key whose proof does not verify (docs/findmy.md §8).
	var keys [2]findmy.Key
	var proofs [2]findmy.Proof
	for i := range keys {
		d, err := findmy.NewPrivateKey(append(make([]byte, findmy.KeySize-1), byte(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = d.Public().Key()
		if proofs[i], err = findmy.SignProof(d, findmy.Statement{Key: keys[i], Kind: findmy.PrimaryKey, Start: uint32(slot), End: uint32(slot + 14), Region: "CH"}); err != nil {
			t.Fatal(err)
		}
	}
	ordinary, flagged := keys[0], keys[1]

	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	b := &batch.Batch{
		Header: batch.Header{Region: "CH", Sequence: 1, PeriodStart: now - 10, PeriodMinutes: 1},
		FindMy: []batch.FindMyKey{
			{Key: ordinary, Start: slot, End: slot + 14, Proof: proofs[0]},
			{Key: flagged, Start: slot, End: slot + 14, Reverse: true, Proof: proofs[1]},
		},
	}
	data, err := batch.EncodeBatch(b, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/regions/CH/batches":
			json.NewEncoder(w).Encode(batch.Listing{Region: "CH", Batches: []batch.Ref{{ID: "CH.1", Region: "CH", Sequence: 1,
				PeriodStart: uint32(now - 10), PeriodMinutes: 1, Entries: 2, Size: len(data), SHA256: hex.EncodeToString(sum[:])}}})
		case "/v1/batches/CH.1":
			w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	defer mirror.Close()

	noticeFile := filepath.Join(t.TempDir(), "notice.json")
	n, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Region: "CH", OnExposure: "cat > " + noticeFile,
		Servers: []exposuresync.Server{{Name: "mirror", URL: mirror.URL, Key: key.Public().(ed25519.PublicKey), Regions: []string{"CH"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	// One Find My minute at -60 dBm scores 0.5: the owner asks to be told
	// from that on, so that the ordinary exposure reaches the notice.
	if err := n.DB().PutSettings(ctx, map[string]string{"notify_threshold": "0.5"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := n.DB().AddSightings(ctx, []pact.Sighting{
		{Chirp: pact.Chirp(ordinary), Minute: slot + 3, RSSI: -60, Source: pact.SourceFindMy},
		{Chirp: pact.Chirp(flagged), Minute: slot + 7, RSSI: -62, Source: pact.SourceFindMy},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}

	reverse := map[findmy.Key]bool{}
	if err := n.DB().FindMyMatches(ctx, 0, ^pact.Minute(0), func(m devicedb.FindMyMatch) error {
		reverse[m.Key] = m.Reverse
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(reverse) != 2 || reverse[ordinary] || !reverse[flagged] {
		t.Fatalf("stored Find My matches (key: reverse) %v; want the flagged key's alone reverse", reverse)
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Exposed || len(st.Days) != 1 || st.Days[0].Source != web.SourceFindMy || len(st.PossibleSource) != 1 || st.PossibleSource[0].Source != web.SourceFindMy {
		t.Errorf("status: exposed %t, days %+v, possible source %+v; want one Find My day in each", st.Exposed, st.Days, st.PossibleSource)
	}
	raw, err := os.ReadFile(noticeFile)
	if err != nil {
		t.Fatalf("the exposure hook did not run: %v", err)
	}
	var notice node.ExposureNotice
	if err := json.Unmarshal(raw, &notice); err != nil {
		t.Fatal(err)
	}
	if !notice.Exposed || len(notice.Days) != 1 || !notice.PossibleSource || len(notice.PossibleSourceDays) != 1 || notice.Advice != web.PossibleSourceTitle {
		t.Errorf("notice %s: want one exposure day and one possible-source day, apart", raw)
	}
}
