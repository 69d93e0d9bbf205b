package exposureclient_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/big"
	"testing"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/pact"
)

// keysPerDevice is three weeks of 15-minute primary keys.
const keysPerDevice = 21 * 24 * 4

// signedUploadKeys returns devices * keysPerDevice keys of consecutive
// slots, each with its proof of possession for region.
func signedUploadKeys(tb testing.TB, devices int, region string) []exposureclient.FindMyKey {
	tb.Helper()
	first := pact.Minute(29_000_000)
	keys := make([]exposureclient.FindMyKey, 0, devices*keysPerDevice)
	for dev := range devices {
		for i := range keysPerDevice {
			d, err := findmy.NewPrivateKey(big.NewInt(int64(1 + dev*keysPerDevice + i)).FillBytes(make([]byte, findmy.KeySize)))
			if err != nil {
				tb.Fatal(err)
			}
			start := first + pact.Minute(i*15+dev*7)
			st := findmy.Statement{Key: d.Public().Key(), Start: uint32(start), End: uint32(start + 14), Region: region}
			p, err := findmy.SignProof(d, st)
			if err != nil {
				tb.Fatal(err)
			}
			keys = append(keys, exposureclient.FindMyKey{Key: st.Key, Start: start, End: start + 14, Proof: p})
		}
	}
	return keys
}

// BenchmarkFindMyProofBytes measures the bytes proofs of possession add
// to one diagnosis (docs/findmy.md §8, docs/performance.md): three weeks
// of 15-minute keys for one and for two devices, in the JSON upload
// (against the same keys without their "proof" fields, the upload's form
// before proofs) and in the batch (version 2, against the Find My entries'
// size without the 56-byte proof). It reports sizes, not times.
func BenchmarkFindMyProofBytes(b *testing.B) {
	signer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	for _, devices := range []int{1, 2} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			keys := signedUploadKeys(b, devices, "CH")
			up := exposureclient.Upload{PermissionNumber: "5MT6T2BKGN9HP89MD0V9", Region: "CH", FindMyKeys: keys}
			type bareKey struct {
				Key   string `json:"key"`
				Start uint32 `json:"start"`
				End   uint32 `json:"end"`
			}
			bare := struct {
				PermissionNumber string    `json:"permission_number"`
				Region           string    `json:"region"`
				Tuples           []any     `json:"tuples"`
				FindMyKeys       []bareKey `json:"findmy_keys"`
			}{up.PermissionNumber, up.Region, []any{}, nil}
			fm := make([]batch.FindMyKey, len(keys))
			for i, k := range keys {
				bare.FindMyKeys = append(bare.FindMyKeys, bareKey{k.Key.String(), uint32(k.Start), uint32(k.End)})
				fm[i] = batch.FindMyKey{Key: k.Key, Start: k.Start, End: k.End, Proof: k.Proof}
			}
			var withProofs, without, batchBytes int
			for b.Loop() {
				j, err := json.Marshal(up)
				if err != nil {
					b.Fatal(err)
				}
				jb, err := json.Marshal(bare)
				if err != nil {
					b.Fatal(err)
				}
				bb, err := batch.EncodeWithFindMy(batch.Header{Region: "CH", Sequence: 1, PeriodStart: 29_000_000, PeriodMinutes: 10}, nil, fm, signer)
				if err != nil {
					b.Fatal(err)
				}
				withProofs, without, batchBytes = len(j), len(jb), len(bb)
			}
			b.ReportMetric(float64(withProofs), "upload-bytes")
			b.ReportMetric(float64(withProofs-without), "upload-proof-bytes")
			b.ReportMetric(float64(batchBytes), "batch-bytes")
			b.ReportMetric(float64(len(keys)*findmy.ProofSize), "batch-proof-bytes")
			b.ReportMetric(float64(len(keys)*(batch.FindMyEntrySize-findmy.ProofSize)), "batch-entry-bytes-without-proofs")
		})
	}
}
