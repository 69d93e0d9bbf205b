package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/pact"
)

const (
	testScheduleSecret    = "93445416ec078a5bea5a04a66bceb5140194b0e94c889928f8ab3f4fe95588ba"
	testSchedulePublicKey = "04ecd8e89e5f76b78f597d9414a953e65ce2509910110a06bf48d1a249d910342aea4450becc5a1fdc7bb7390663fabda1b3365a1406637201"
)

func scheduleEntryJSON(epoch pact.Minute, from, count uint64) map[string]any {
	return map[string]any{"secret": testScheduleSecret, "public_key": testSchedulePublicKey, "epoch": epoch, "from": from, "count": count}
}

func scheduleUpload(number model.PermissionNumber, entries ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"permission_number": number, "region": "CH", "tuples": []any{}, "findmy_schedule": entries})
	return b
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// derivedSoFar is the derivation work the server has done.
func (f *fixture) derivedSoFar() (updates, keys float64) {
	return counterValue(f.srv.metrics.secretUpdates), counterValue(f.srv.metrics.keysDerived)
}

// A schedule whose key windows arithmetic can refuse is refused before any
// key is derived, whichever entry is at fault: refusing it after deriving
// cost a second of CPU per request.
func TestScheduleWindowsRefusedBeforeDeriving(t *testing.T) {
	now := pact.MinuteOf(testNow)
	fine := scheduleEntryJSON(now-24*60, 0, 8)
	cases := []struct {
		name    string
		entries []map[string]any
		field   string
		want    error
	}{
		{"second entry ends in the future", []map[string]any{fine, scheduleEntryJSON(now-60, 0, 8)}, "findmy_schedule[1]", pact.ErrFuture},
		{"past retention after a long walk", []map[string]any{fine, scheduleEntryJSON(0, 1<<20, 2016)}, "findmy_schedule[1]", pact.ErrExpired},
		{"last key of a long entry in the future", []map[string]any{scheduleEntryJSON(now-2015*15, 0, 2016), fine}, "findmy_schedule[0]", pact.ErrFuture},
		{"second entry lacks its secret", []map[string]any{fine, {"public_key": testSchedulePublicKey, "epoch": now - 24*60, "from": 0, "count": 8}}, "findmy_schedule[1].secret", ErrFieldMissing},
		{"second entry asks too many keys", []map[string]any{fine, scheduleEntryJSON(now-24*60, 0, keysPerSchedule+1)}, "findmy_schedule[1].count", ErrFieldValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &parsedUpload{region: "CH"}
			f := newFixture(t, Config{})
			raw, _ := json.Marshal(tc.entries)
			if err := json.Unmarshal(raw, &p.schedules); err != nil {
				t.Fatal(err)
			}
			perr := f.srv.check(p, now)
			if perr == nil || perr.field != tc.field || !errors.Is(perr, tc.want) {
				t.Fatalf("check = %v (field %q), want %v naming %s", perr, fieldOf(perr), tc.want, tc.field)
			}
			nums, _ := f.issue(t, 1, time.Hour)
			status, r, _ := f.post(t, "application/json", scheduleUpload(nums[0], tc.entries...), nil)
			if status != http.StatusBadRequest || r.Field != tc.field {
				t.Fatalf("upload: %d %+v, want 400 naming %s", status, r, tc.field)
			}
			if updates, keys := f.derivedSoFar(); updates != 0 || keys != 0 {
				t.Fatalf("the server ran %v secret updates and derived %v keys for an upload arithmetic refuses", updates, keys)
			}
		})
	}
}

func fieldOf(e *uploadError) string {
	if e == nil {
		return ""
	}
	return e.field
}

// A client that hangs up while its keys are derived stops the derivation,
// and keeps its charge: a refund would let it start another at once.
func TestScheduleDerivationStopsWithTheRequest(t *testing.T) {
	f := newFixture(t, Config{FailuresPerHour: 1})
	nums, _ := f.issue(t, 1, time.Hour)
	now := pact.MinuteOf(testNow)
	// 2^20 secret updates take a third of a second at least.
	body := scheduleUpload(nums[0], scheduleEntryJSON(now-(1<<20+8)*15, 1<<20, 8))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.http.URL+PathUploads, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	go func() {
		for updates, _ := f.derivedSoFar(); updates == 0; updates, _ = f.derivedSoFar() {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("upload answered %d before the client hung up", resp.StatusCode)
	}
	unavailable := f.srv.metrics.uploads.WithLabelValues("unavailable")
	for deadline := time.Now().Add(30 * time.Second); counterValue(unavailable) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the handler did not give up after the client hung up")
		}
	}
	if updates, keys := f.derivedSoFar(); updates >= 1<<20 || keys != 0 {
		t.Fatalf("after the client hung up the server went on: %v secret updates and %v keys", updates, keys)
	}
	// The one guess of the hour stays spent.
	unknown, _ := model.NewPermissionNumber(nil)
	if status, r, _ := f.post(t, "application/json", uploadBody(string(unknown), "CH", []pact.Tuple{{Start: 28999920, End: 28999979}}), nil); status != http.StatusTooManyRequests {
		t.Fatalf("next upload: %d %+v, want 429: the charge of an abandoned derivation was refunded", status, r)
	}
}

// One network may cause at most Config.FindMyStepsPerMinute of derivation;
// past it, schedule uploads get 429 before deriving, and the guess they
// were charged comes back.
func TestScheduleDerivationBudgetPerNetwork(t *testing.T) {
	f := newFixture(t, Config{FailuresPerHour: 2})
	now := pact.MinuteOf(testNow)
	nums, _ := f.issue(t, 3, time.Hour)
	body := func(i int) []byte { return scheduleUpload(nums[i], scheduleEntryJSON(now-24*60, 0, 8)) }
	if !f.srv.derivations.take("127.0.0.1", f.clock.Now(), MaxUploadDerivationSteps-4*keyDerivationSteps) {
		t.Fatal("a fresh network cannot spend one upload's derivation")
	}
	for range 3 {
		status, r, _ := f.post(t, "application/json", body(0), nil)
		if status != http.StatusTooManyRequests || r.Code != "rate_limited" || r.Field != "findmy_schedule" {
			t.Fatalf("past the budget: %d %+v, want 429 naming findmy_schedule", status, r)
		}
	}
	if updates, keys := f.derivedSoFar(); updates != 0 || keys != 0 {
		t.Fatalf("refused uploads cost %v secret updates and %v keys", updates, keys)
	}
	// Three refusals did not use up the two guesses: a minute later the
	// budget is back and both go through.
	f.clock.Add(time.Minute)
	for i := 1; i <= 2; i++ {
		if status, r, _ := f.post(t, "application/json", body(i), nil); status != http.StatusCreated {
			t.Fatalf("a minute later, upload %d: %d %+v, want 201", i, status, r)
		}
	}
	// Each derivation kept its guess: the hour's two are spent.
	if status, r, _ := f.post(t, "application/json", body(0), nil); status != http.StatusTooManyRequests || r.Field != "permission_number" {
		t.Fatalf("third schedule upload in the hour: %d %+v, want 429 naming permission_number", status, r)
	}
}
