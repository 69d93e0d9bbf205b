package devicedb

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

func contactAt(seed byte, heard pact.Minute) pact.Contact {
	return pact.Contact{Seed: pact.Seed{seed}, Chirp: chirpN(seed), ChirpMinute: heard, Heard: heard, RSSI: -60, Source: pact.SourcePACT}
}

func countContacts(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	if err := db.Contacts(context.Background(), 0, ^pact.Minute(0), func(pact.Contact) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// A batch's matches, its log entry and its cursor are stored together or
// not at all, and a batch at or below the cursor is refused.
func TestApplyBatch(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	b := func(seq uint64) AppliedBatch {
		return AppliedBatch{Server: "lab", Region: "CH", Sequence: seq, ID: fmt.Sprintf("CH.%d", seq), PeriodStart: 1000, PeriodMinutes: 10, Uploads: 1, Tuples: 2, Applied: at}
	}
	errFail := errors.New("matcher failed")
	steps := []struct {
		name     string
		batch    AppliedBatch
		contacts []pact.Contact
		fail     bool
		wantErr  error
		cursor   uint64
		stored   int
	}{
		{"batch 2 first (1 expired on the server)", b(2), []pact.Contact{contactAt(1, 100), contactAt(2, 100+pact.MinutesPerDay)}, false, nil, 2, 2},
		{"batch 2 again", b(2), []pact.Contact{contactAt(3, 100)}, false, ErrBatchApplied, 2, 2},
		{"batch 1 after 2", b(1), []pact.Contact{contactAt(3, 100)}, false, ErrBatchApplied, 2, 2},
		{"batch 3 whose callback fails", b(3), []pact.Contact{contactAt(3, 100)}, true, errFail, 2, 2},
		{"batch 3", b(3), []pact.Contact{contactAt(3, 100), contactAt(1, 100)}, false, nil, 3, 3},
	}
	for _, st := range steps {
		var days []DaySource
		err := db.ApplyBatch(ctx, st.batch, func(tx *BatchTx) error {
			var err error
			if days, err = tx.AddContacts(st.contacts); err != nil {
				return err
			}
			if st.fail {
				return errFail
			}
			return nil
		})
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.wantErr)
		}
		cursors, err := db.SyncCursors(ctx, "lab")
		if err != nil || len(cursors) != 1 || cursors[0].Sequence != st.cursor || cursors[0].Region != "CH" || !cursors[0].Updated.Equal(at) {
			t.Fatalf("%s: cursors %+v, %v; want CH at %d", st.name, cursors, err, st.cursor)
		}
		if n := countContacts(t, db); n != st.stored {
			t.Fatalf("%s: %d contacts stored, want %d", st.name, n, st.stored)
		}
		if st.name == "batch 2 first (1 expired on the server)" && (len(days) != 2 || days[0].Day != 0 || days[1].Day != 1) {
			t.Fatalf("%s: days %v, want days 0 and 1", st.name, days)
		}
	}
	applied, err := db.AppliedBatches(ctx, "lab")
	if err != nil || len(applied) != 2 || applied[0].Sequence != 2 || applied[0].Contacts != 2 || applied[1].Sequence != 3 || applied[1].Contacts != 1 {
		t.Fatalf("applied batches %+v, %v; want 2 with 2 contacts and 3 with 1", applied, err)
	}
	if n, err := db.DeleteAppliedBatchesBefore(ctx, at.Add(time.Millisecond)); err != nil || n != 2 {
		t.Fatalf("erasing the applied batch log: %d, %v", n, err)
	}
	// The cursor alone still keeps batch 3 out.
	if err := db.ApplyBatch(ctx, b(3), nil); !errors.Is(err, ErrBatchApplied) {
		t.Fatalf("batch 3 after its log entry was erased: %v, want ErrBatchApplied", err)
	}
}

func TestRefusedBatchesAndAttempts(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		r := RefusedBatch{Server: "lab", Region: "CH", Sequence: 4, ID: "CH.4", Kind: "tampered", Reason: "signature", Last: t0.Add(time.Duration(i) * time.Minute)}
		if err := db.RecordRefusedBatch(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.RefusedBatches(ctx, "lab")
	if err != nil || len(got) != 1 || got[0].Attempts != 3 || !got[0].First.Equal(t0) || !got[0].Last.Equal(t0.Add(2*time.Minute)) || got[0].Applied {
		t.Fatalf("refused batches %+v, %v", got, err)
	}
	if err := db.ApplyBatch(ctx, AppliedBatch{Server: "lab", Region: "CH", Sequence: 4, ID: "CH.4", Applied: t0}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.RefusedBatches(ctx, "lab"); len(got) != 1 || !got[0].Applied {
		t.Fatalf("after applying the batch intact: %+v, want it marked applied", got)
	}

	if a, err := db.LastSyncAttempt(ctx, "lab"); err != nil || !a.LastAttempt.IsZero() {
		t.Fatalf("a server never synced: %+v, %v", a, err)
	}
	if err := db.RecordSyncAttempt(ctx, "lab", t0, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordSyncAttempt(ctx, "lab", t0.Add(time.Hour), errors.New("connection refused")); err != nil {
		t.Fatal(err)
	}
	a, err := db.LastSyncAttempt(ctx, "lab")
	if err != nil || !a.LastAttempt.Equal(t0.Add(time.Hour)) || !a.LastSuccess.Equal(t0) || a.LastError != "connection refused" {
		t.Fatalf("last attempt %+v, %v", a, err)
	}
}
