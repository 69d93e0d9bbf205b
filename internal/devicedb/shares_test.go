package devicedb

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/pact"
)

func TestSharesRoundTripAndRetention(t *testing.T) {
	ctx := context.Background()
	db, _ := openTemp(t)
	created := time.Unix(29_000_000*60, 0).UTC()
	entries := []ShareEntry{
		{Kind: ShareEntrySeed, Value: bytes.Repeat([]byte{1}, 32), Start: 100, End: 159},
		{Kind: ShareEntrySeed, Value: bytes.Repeat([]byte{2}, 32), Start: 160, End: 219, Redacted: true},
		{Kind: ShareEntryFindMy, Value: bytes.Repeat([]byte{3}, 28), Start: 300, End: 314},
	}
	id, err := db.AddShare(ctx, Share{Created: created, Server: "main", Region: "CH", Tuples: 2, Redacted: 1, FindMyKeys: 1,
		Reverse: true, ReverseFrom: 100, ReverseTo: 200, Status: ShareSending}, entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetShareOutcome(ctx, id, SharePending, "", "", "", created.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	sh, err := db.ShareByID(ctx, id)
	if err != nil || sh.Status != SharePending || !sh.Reverse || sh.ReverseTo != 200 || !sh.Created.Equal(created) || sh.Tuples != 2 {
		t.Fatalf("share %+v, %v", sh, err)
	}
	if err := db.RecordShareCheck(ctx, ShareCheck{ShareID: id, BatchID: "CH.1", Seen: entries[:1], Counted: true, Status: SharePending, At: created}); err != nil {
		t.Fatal(err)
	}
	got, err := db.ShareEntries(ctx, id)
	if err != nil || len(got) != 3 {
		t.Fatalf("entries %+v, %v", got, err)
	}
	for _, e := range got {
		if (e.SeenIn == "CH.1") != (e.Start == 100) {
			t.Errorf("entry %+v: only the seed starting at 100 was seen in CH.1", e)
		}
	}
	red, err := db.RedactedShareEntries(ctx)
	if err != nil || len(red) != 1 || red[0].Start != 160 {
		t.Fatalf("redacted entries %+v, %v; want the one starting at 160", red, err)
	}
	// Retention erases copies of seeds and keys, never the share's counts.
	if n, err := db.DeleteShareEntriesBefore(ctx, pact.Minute(220)); err != nil || n != 2 {
		t.Fatalf("erased %d, %v; want the 2 entries ending before 220", n, err)
	}
	if got, _ := db.ShareEntries(ctx, id); len(got) != 1 || got[0].Kind != ShareEntryFindMy {
		t.Fatalf("entries left %+v, want the Find My key", got)
	}
	if sh, err := db.ShareByID(ctx, id); err != nil || sh.BatchesWithout != 1 {
		t.Fatalf("share after retention %+v, %v", sh, err)
	}
	if _, err := db.ShareByID(ctx, id+1); !errors.Is(err, ErrNoShare) {
		t.Fatalf("missing share: %v, want ErrNoShare", err)
	}
	if err := db.SetShareOutcome(ctx, id+1, ShareRefused, "x", "", "", created); !errors.Is(err, ErrNoShare) {
		t.Fatalf("outcome of a missing share: %v, want ErrNoShare", err)
	}
	// A stored row with a minute outside the range fails with its value.
	if _, err := db.SQL().Exec(`UPDATE share_entries SET start_minute = -5`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ShareEntries(ctx, id); err == nil {
		t.Fatal("an entry with minute -5 was read back")
	}
}
