package main

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestTwoReplicas runs two pact-server replicas, each with a connection
// pool of its own, on one PostgreSQL while clients upload to both and
// both cut batches every few milliseconds; some numbers are posted to
// both replicas at the same moment. runReplicas fails with ErrSpentTwice,
// ErrCutTwice, ErrUploadLost or ErrSequenceGap if a guarantee breaks.
func TestTwoReplicas(t *testing.T) {
	url := os.Getenv("PACT_TEST_POSTGRES_URL")
	if url == "" {
		msg := "PACT_TEST_POSTGRES_URL is not set: the two-replica test DID NOT RUN"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	res, err := runReplicas(context.Background(), replicaOptions{
		url: url, replicas: 2, uploads: 150, doubleSpend: 40, tuples: 24, concurrency: 8, cutEvery: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Stored != 190 || res.RefusedAsUsed != 40 {
		t.Errorf("%d stored, %d refused as used; want 190 and 40", res.Stored, res.RefusedAsUsed)
	}
	if res.Cuts < 4 || res.Batches < 2 {
		t.Errorf("%d cuts gave %d batches: the cutters did not race the uploads", res.Cuts, res.Batches)
	}
}
