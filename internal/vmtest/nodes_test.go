//go:build linux

package vmtest

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/web"
)

// nodesTimeout bounds the two-node scenario: about 3 minutes of chirping
// until node b has heard node a in three minutes, up to a minute and a
// half until the batch is cut and synced, about half a minute until the
// repeater brings a chirp back, and the boot; under TCG on a loaded
// two-core machine it takes about 6 minutes.
const nodesTimeout = 10 * time.Minute

// seedEntry is one uploaded seed with its tuple's window, as vmcheck seeds
// prints a share's entries.
type seedEntry struct {
	seed       pact.Seed
	start, end pact.Minute
	redacted   bool
	seenIn     string
}

// nodeResult is what the guest printed about one node.
type nodeResult struct {
	seeds       map[pact.Minute]pact.SeedRecord // by hour
	shares      map[int64]string                // share id -> status
	entries     []seedEntry                     // seed entries of every share
	status      *web.Status
	exposures   *web.Exposures
	log         []string
	parseErrors []string
}

// nodesConsole is the parsed console of the two-node scenario.
type nodesConsole struct {
	nodes    map[string]*nodeResult
	contacts map[string]*channelResult // by node, from vmcheck dump
	share    *web.ShareResult
	times    map[string]time.Time
	heard    int
	// repeatedBefore and repeatedAfter count the repeater rows in node
	// b's contact log when node a stopped and once b heard the repeater.
	repeatedBefore, repeatedAfter int
}

func parseNodesConsole(console string) *nodesConsole {
	c := &nodesConsole{nodes: map[string]*nodeResult{}, contacts: parseConsole(console), times: map[string]time.Time{}}
	get := func(n string) *nodeResult {
		if c.nodes[n] == nil {
			c.nodes[n] = &nodeResult{seeds: map[pact.Minute]pact.SeedRecord{}, shares: map[int64]string{}}
		}
		return c.nodes[n]
	}
	bad := func(n, line string, err error) {
		r := get(n)
		r.parseErrors = append(r.parseErrors, fmt.Sprintf("%q: %v", line, err))
	}
	sc := bufio.NewScanner(strings.NewReader(console))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch {
		case f[0] == "SEED" && len(f) == 5:
			start, err := strconv.ParseUint(f[3], 10, 32)
			seed, err2 := hex.DecodeString(f[4])
			if err != nil || err2 != nil || len(seed) != pact.SeedSize {
				bad(f[1], line, fmt.Errorf("start %v, seed %v", err, err2))
				continue
			}
			r := pact.SeedRecord{Seed: pact.Seed(seed), Start: pact.Minute(start)}
			get(f[1]).seeds[r.Hour()] = r
		case f[0] == "SHARE" && len(f) == 6:
			id, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				bad(f[1], line, err)
				continue
			}
			get(f[1]).shares[id] = f[3]
		case f[0] == "SHARE-ENTRY" && len(f) == 9 && f[3] == devicedb.ShareEntrySeed:
			seed, err := hex.DecodeString(f[4])
			start, err2 := strconv.ParseUint(f[5], 10, 32)
			end, err3 := strconv.ParseUint(f[6], 10, 32)
			if err != nil || err2 != nil || err3 != nil || len(seed) != pact.SeedSize {
				bad(f[1], line, fmt.Errorf("seed %v, start %v, end %v", err, err2, err3))
				continue
			}
			get(f[1]).entries = append(get(f[1]).entries, seedEntry{pact.Seed(seed), pact.Minute(start), pact.Minute(end), f[7] == "true", f[8]})
		case f[0] == "VMTEST-JSON" && len(f) >= 4:
			payload := strings.SplitN(line, " ", 4)[3]
			r := get(f[1])
			var err error
			switch f[2] {
			case "status":
				r.status = &web.Status{}
				err = json.Unmarshal([]byte(payload), r.status)
			case "exposures":
				r.exposures = &web.Exposures{}
				err = json.Unmarshal([]byte(payload), r.exposures)
			}
			if err != nil {
				bad(f[1], line, err)
			}
		case f[0] == "VMTEST-LOG":
			get(f[1]).log = append(get(f[1]).log, strings.SplitN(line, " ", 3)[2])
		case f[0] == "VMTEST-SHARE":
			c.share = &web.ShareResult{}
			if err := json.Unmarshal([]byte(strings.SplitN(line, " ", 2)[1]), c.share); err != nil {
				bad("a", line, err)
			}
		case f[0] == "VMTEST-TIME" && len(f) == 3:
			if sec, err := strconv.ParseInt(f[2], 10, 64); err == nil {
				c.times[f[1]] = time.Unix(sec, 0)
			}
		case f[0] == "VMTEST-HEARD":
			c.heard, _ = strconv.Atoi(f[1])
		case f[0] == "VMTEST-REPEATED-BEFORE":
			c.repeatedBefore, _ = strconv.Atoi(f[1])
		case f[0] == "VMTEST-REPEATED-AFTER":
			c.repeatedAfter, _ = strconv.Atoi(f[1])
		}
	}
	return c
}

// heardChirp is one row of node b's contact log that is node a's chirp.
type heardChirp struct {
	heard, chirped pact.Minute
	seed           pact.Seed
}

// chirpOf finds which of seeds chirped row, within the matcher's default
// tolerance of the minute it was heard (pact.DefaultMatchTolerance) and
// inside [from, to] of the seed's window. ok is false when none did.
func chirpOf(row contactRow, seeds []seedEntry) (heardChirp, bool) {
	return chirpWithin(row, seeds, 0)
}

// repeatedChirpOf is chirpOf for a chirp a repeater brought back: it may
// have been chirped up to pact.MaxRepeatDelay minutes more before it was
// heard (spec §9.1.3).
func repeatedChirpOf(row contactRow, seeds []seedEntry) (heardChirp, bool) {
	return chirpWithin(row, seeds, pact.MaxRepeatDelay)
}

func chirpWithin(row contactRow, seeds []seedEntry, late pact.Minute) (heardChirp, bool) {
	b, err := hex.DecodeString(row.chirp)
	if err != nil || len(b) != len(pact.Chirp{}) {
		return heardChirp{}, false
	}
	chirp := pact.Chirp(b)
	for _, s := range seeds {
		lo := max(s.start, row.minute-pact.DefaultMatchTolerance-late)
		hi := min(s.end, row.minute+pact.DefaultMatchTolerance)
		for t := lo; t <= hi; t++ {
			if pact.ChirpAt(&s.seed, t) == chirp {
				return heardChirp{heard: row.minute, chirped: t, seed: s.seed}, true
			}
		}
	}
	return heardChirp{}, false
}

// TestTwoNodesOnRealKernel boots the vmtest=nodes scenario
// (scripts/vm/nodes.sh): two pact-bridge run nodes on hci0 and hci1 chirp
// and scan on one emulated radio, node a shares through its dashboard API
// to an exposure server on the guest's loopback, and node b syncs. The
// exposure b reports must be exactly the minutes b really heard a, as
// recomputed here from a's seed log and b's contact log.
func TestTwoNodesOnRealKernel(t *testing.T) {
	g := prepareGuest(t)
	start := time.Now()
	console := bootGuest(t, g, "vmtest=nodes", nodesTimeout, filepath.Join(g.cache, "console-nodes.log"))
	end := time.Now()
	res := parseNodesConsole(console)
	a, b := res.nodes["a"], res.nodes["b"]
	if a == nil || b == nil {
		t.Fatal("the console holds no output of node a or node b")
	}
	for _, n := range []*nodeResult{a, b} {
		for _, e := range n.parseErrors {
			t.Errorf("unreadable console line: %s", e)
		}
	}
	ca, cb := res.contacts["a"], res.contacts["b"]
	if ca == nil || !ca.sawCount || cb == nil || !cb.sawCount {
		t.Fatal("no contact log dump of node a or node b in the console")
	}

	// a's seed log against what its share sent: one tuple per hour, the
	// real seed (nothing was excluded), from the minute it was drawn.
	var aSeeds []seedEntry
	for _, r := range a.seeds {
		aSeeds = append(aSeeds, seedEntry{seed: r.Seed, start: r.Start, end: r.Hour() + pact.MinutesPerHour - 1})
	}
	t.Run("share", func(t *testing.T) {
		if res.share == nil || !res.share.Accepted {
			t.Fatalf("node a's share was not accepted: %+v", res.share)
		}
		if res.share.Tuples != len(a.entries) || len(a.entries) == 0 {
			t.Errorf("share answered %d tuples, node a recorded %d seed entries", res.share.Tuples, len(a.entries))
		}
		if len(a.shares) != 1 {
			t.Fatalf("node a recorded %d shares, want 1: %v", len(a.shares), a.shares)
		}
		for id, status := range a.shares {
			if status != devicedb.ShareConfirmed {
				t.Errorf("node a's share %d is %q, want %q: its upload was not found in a signed batch", id, status, devicedb.ShareConfirmed)
			}
		}
		for _, e := range a.entries {
			r, ok := a.seeds[e.start.HourStart()]
			switch {
			case e.redacted:
				t.Errorf("entry of hour %d is redacted; nothing was excluded", e.start.HourStart())
			case !ok || r.Seed != e.seed:
				t.Errorf("entry of hour %d is not node a's seed of that hour", e.start.HourStart())
			case e.start != r.Start:
				t.Errorf("entry of hour %d starts at minute %d, the seed was drawn at %d", e.start.HourStart(), e.start, r.Start)
			case e.seenIn == "-":
				t.Errorf("entry of hour %d was never seen in a batch", e.start.HourStart())
			}
		}
		if len(b.shares) != 0 {
			t.Errorf("node b recorded shares %v; it never shared", b.shares)
		}
	})

	// The truth: every native chirp in b's log must be one of a's (only a
	// chirps on this radio); those a's share covered are what b's
	// exposure must report, minute for minute. The repeater's rows come
	// after b's exposure was read and are checked by repeater-brings-back.
	heardMinutes := map[pact.Minute]bool{}
	type dayTruth struct {
		minutes map[pact.Minute]bool
		seeds   map[pact.Seed]bool
	}
	truth := map[time.Time]*dayTruth{}
	for _, row := range cb.contacts {
		if row.source == string(pact.SourceRepeater) {
			continue
		}
		if row.source != string(pact.SourcePACT) {
			t.Errorf("node b's contact log holds a %s sighting %s; only native and repeated chirps were on the air", row.source, row.chirp)
			continue
		}
		if _, ok := chirpOf(row, aSeeds); !ok {
			t.Errorf("node b heard chirp %s at minute %d, which is none of node a's", row.chirp, row.minute)
			continue
		}
		heardMinutes[row.minute] = true
		if row.minute < pact.MinuteOf(start) || row.minute > pact.MinuteOf(end) {
			t.Errorf("node b heard a chirp at minute %d, outside the run's minutes %d..%d", row.minute, pact.MinuteOf(start), pact.MinuteOf(end))
		}
		if row.rssi != btvirtRSSI {
			t.Errorf("chirp %s has RSSI %d, btvirt reports %d", row.chirp, row.rssi, btvirtRSSI)
		}
		if hc, ok := chirpOf(row, a.entries); ok {
			day := row.minute.Time().Truncate(24 * time.Hour)
			if truth[day] == nil {
				truth[day] = &dayTruth{minutes: map[pact.Minute]bool{}, seeds: map[pact.Seed]bool{}}
			}
			truth[day].minutes[hc.heard] = true
			truth[day].seeds[hc.seed] = true
		}
	}
	matched := 0
	for _, d := range truth {
		matched += len(d.minutes)
	}
	if len(heardMinutes) < 2 {
		t.Errorf("node b heard node a in %d minutes; the scenario waits for 3", len(heardMinutes))
	}

	t.Run("exposure-equals-what-b-heard", func(t *testing.T) {
		if b.status == nil || b.exposures == nil {
			t.Fatal("no status or exposures JSON of node b")
		}
		if !b.status.Exposed {
			t.Error("node b's status says not exposed")
		}
		if matched == 0 {
			t.Fatal("node b heard none of the chirps node a shared")
		}
		seen := map[time.Time]bool{}
		for _, d := range b.exposures.Days {
			day := d.Day.UTC()
			want := truth[day]
			if d.Source != string(pact.SourcePACT) || d.ReverseTracing || want == nil {
				t.Errorf("node b reports %d minutes of %s (reverse tracing %v) on %s; it heard node a's shared chirps on no such day",
					d.MatchedMinutes, d.Source, d.ReverseTracing, day.Format(time.DateOnly))
				continue
			}
			seen[day] = true
			if d.MatchedMinutes != len(want.minutes) {
				t.Errorf("%s: node b reports %d matched minutes, it heard node a's shared chirps in %d", day.Format(time.DateOnly), d.MatchedMinutes, len(want.minutes))
			}
			if d.Contacts != len(want.seeds) {
				t.Errorf("%s: node b reports %d contacts, it heard %d of node a's seed-hours", day.Format(time.DateOnly), d.Contacts, len(want.seeds))
			}
			if d.MaxRSSI != int(btvirtRSSI) {
				t.Errorf("%s: max RSSI %d, btvirt reports %d", day.Format(time.DateOnly), d.MaxRSSI, btvirtRSSI)
			}
			if !day.Equal(b.exposures.TimelineDay.UTC()) {
				continue
			}
			var got []pact.Minute
			for _, m := range d.Timeline {
				got = append(got, pact.MinuteOf(m.At))
			}
			var wantMinutes []pact.Minute
			for m := range want.minutes {
				wantMinutes = append(wantMinutes, m)
			}
			slices.Sort(got)
			slices.Sort(wantMinutes)
			if !slices.Equal(got, wantMinutes) {
				t.Errorf("%s: node b's timeline has minutes %v, it heard node a's shared chirps in %v", day.Format(time.DateOnly), got, wantMinutes)
			}
		}
		for day := range truth {
			if !seen[day] {
				t.Errorf("%s: node b heard node a's shared chirps but reports no exposure that day", day.Format(time.DateOnly))
			}
		}
	})

	t.Run("a-not-exposed", func(t *testing.T) {
		// a heard b, but b shared nothing; a never hears its own chirps.
		if a.status == nil || a.exposures == nil {
			t.Fatal("no status or exposures JSON of node a")
		}
		if a.status.Exposed || len(a.exposures.Days) != 0 {
			t.Errorf("node a reports an exposure (exposed %v, %d days); only it shared", a.status.Exposed, len(a.exposures.Days))
		}
		var bSeeds []seedEntry
		for _, r := range b.seeds {
			bSeeds = append(bSeeds, seedEntry{seed: r.Seed, start: r.Start, end: r.Hour() + pact.MinutesPerHour - 1})
		}
		heardB := 0
		for _, row := range ca.contacts {
			if _, own := chirpOf(row, aSeeds); own {
				t.Errorf("node a logged its own chirp %s at minute %d", row.chirp, row.minute)
			}
			if _, ok := chirpOf(row, bSeeds); ok {
				heardB++
			}
		}
		if heardB == 0 {
			t.Error("node a never heard node b: b did not chirp, or a did not scan")
		}
	})

	t.Run("one-adapter-each", func(t *testing.T) {
		for name, n := range map[string]*nodeResult{"a": a, "b": b} {
			adapter := map[string]string{"a": "0", "b": "1"}[name]
			log := strings.Join(n.log, "\n")
			for _, re := range []string{
				`msg=scanning adapter=` + adapter + ` channel=\w+ extended=(true|false)`,
				`msg="chirping and scanning" adapter=hci` + adapter + ` `,
			} {
				if !regexp.MustCompile(re).MatchString(log) {
					t.Errorf("node %s's log lacks /%s/", name, re)
				}
			}
			for _, line := range n.log {
				if strings.Contains(line, "level=ERROR") {
					t.Errorf("node %s logged an error: %s", name, line)
				}
			}
			if n.status == nil || !n.status.Chirping || n.status.Adapter.Name != "hci"+adapter {
				t.Errorf("node %s's status does not say it is chirping on hci%s: %+v", name, adapter, n.status)
			}
		}
	})

	// The repeater on hci2 (docs/repeater.md), started after b's exposure
	// was read: it opened the adapter with extended scanning and an
	// extended advertising set and heard the nodes' chirps; node a then
	// stopped, and 70 s after the repeater first heard a's chirp node b
	// heard it again in a 49-byte repeated frame, logged with the source
	// repeater (docs/vm-test.md).
	t.Run("repeater-brings-back-a-chirp", func(t *testing.T) {
		r := res.nodes["r"]
		if r == nil {
			t.Fatal("no log of the repeater in the console")
		}
		log := strings.Join(r.log, "\n")
		if !regexp.MustCompile(`msg=scanning adapter=2 channel=\w+ extended=true`).MatchString(log) ||
			!regexp.MustCompile(`msg=repeating adapter=hci2 delay=1m10s every=20s repeats=2 `).MatchString(log) {
			t.Errorf("the repeater's log lacks its extended scan or its start on hci2:\n%s", log)
		}
		stopped := regexp.MustCompile(`msg="repeater stopped" heard=(\d+) held=(\d+) broadcasts=(\d+) dropped_memory=0 dropped_airtime=0 dropped_repeated=0 failures=0`).FindStringSubmatch(log)
		if stopped == nil {
			t.Fatalf("the repeater's last line lacks its counters, or it dropped or failed:\n%s", log)
		}
		t.Logf("the repeater heard %s chirps, held %s and broadcast %s frames", stopped[1], stopped[2], stopped[3])
		if stopped[1] == "0" || stopped[3] == "0" {
			t.Errorf("the repeater heard %s and broadcast %s; want chirps heard and rebroadcast", stopped[1], stopped[3])
		}
		for _, line := range r.log {
			if strings.Contains(line, "level=ERROR") {
				t.Errorf("the repeater logged an error: %s", line)
			}
		}
		if res.repeatedBefore != 0 {
			t.Errorf("node b's contact log held %d repeated chirps when node a stopped, before the repeater's 70 s delay", res.repeatedBefore)
		}
		if res.repeatedAfter == 0 {
			t.Fatal("the guest counted no repeated chirp in node b's contact log after node a stopped")
		}
		aStopped := res.times["a-stopped"]
		if aStopped.IsZero() {
			t.Fatal("no time of node a's stop in the console")
		}
		back := 0
		for _, row := range cb.contacts {
			if row.source != string(pact.SourceRepeater) {
				continue
			}
			hc, ok := repeatedChirpOf(row, aSeeds)
			if !ok {
				t.Errorf("node b heard repeated chirp %s at minute %d, which is none of node a's", row.chirp, row.minute)
				continue
			}
			if row.minute < pact.MinuteOf(aStopped) {
				t.Errorf("node b heard node a's repeated chirp at minute %d, before a stopped in minute %d", row.minute, pact.MinuteOf(aStopped))
				continue
			}
			if row.rssi != btvirtRSSI {
				t.Errorf("repeated chirp %s has RSSI %d, btvirt reports %d", row.chirp, row.rssi, btvirtRSSI)
			}
			t.Logf("node b heard node a's chirp of minute %d again in minute %d, after a stopped in minute %d", hc.chirped, row.minute, pact.MinuteOf(aStopped))
			back++
		}
		if back == 0 {
			t.Error("node b's contact log holds no repeated chirp of node a's")
		}
	})

	phase := func(from, to string) time.Duration {
		if res.times[from].IsZero() || res.times[to].IsZero() {
			return 0
		}
		return res.times[to].Sub(res.times[from])
	}
	t.Logf("guest ran %v: boot to nodes up %v, until b heard a in %d minutes %v, share to b exposed %v, a stopped to b heard the repeater %v",
		end.Sub(start).Round(time.Second), phase("boot", "nodes-up"), res.heard, phase("nodes-up", "heard"), phase("shared", "exposed"), phase("a-stopped", "repeated"))
	t.Logf("node b heard node a in %d minutes (%d contact-log rows), %d of them covered by the share; b reports %d matched minutes",
		len(heardMinutes), len(cb.contacts), matched, matchedReported(b))
}

// matchedReported sums the matched minutes a node reports over its days.
func matchedReported(n *nodeResult) int {
	if n.exposures == nil {
		return 0
	}
	total := 0
	for _, d := range n.exposures.Days {
		total += d.MatchedMinutes
	}
	return total
}

// TestChirpOf checks the truth the two-node test computes: a chirp counts
// for the minute it was heard when its own minute lies in the uploaded
// window and within the matcher's tolerance of that minute.
func TestChirpOf(t *testing.T) {
	seed := pact.Seed{1, 2, 3}
	other := pact.Seed{9}
	window := []seedEntry{{seed: seed, start: 1000, end: 1005}}
	hexChirp := func(s pact.Seed, m pact.Minute) string {
		c := pact.ChirpAt(&s, m)
		return hex.EncodeToString(c[:])
	}
	for _, tc := range []struct {
		name        string
		row         contactRow
		wantOK      bool
		wantChirped pact.Minute
	}{
		{"heard in its minute", contactRow{chirp: hexChirp(seed, 1002), minute: 1002}, true, 1002},
		{"heard a minute late", contactRow{chirp: hexChirp(seed, 1005), minute: 1006}, true, 1005},
		{"heard a minute early", contactRow{chirp: hexChirp(seed, 1000), minute: 999}, true, 1000},
		{"heard two minutes late", contactRow{chirp: hexChirp(seed, 1002), minute: 1004}, false, 0},
		{"chirped after the window", contactRow{chirp: hexChirp(seed, 1006), minute: 1006}, false, 0},
		{"chirped before the window", contactRow{chirp: hexChirp(seed, 999), minute: 999}, false, 0},
		{"another seed", contactRow{chirp: hexChirp(other, 1002), minute: 1002}, false, 0},
		{"not hex", contactRow{chirp: "zz", minute: 1002}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := chirpOf(tc.row, window)
			if ok != tc.wantOK || got.chirped != tc.wantChirped {
				t.Fatalf("chirpOf = %+v, %v; want chirped %d, %v", got, ok, tc.wantChirped, tc.wantOK)
			}
			if ok && (got.heard != tc.row.minute || got.seed != seed) {
				t.Errorf("chirpOf = %+v; want heard %d and the window's seed", got, tc.row.minute)
			}
		})
	}
}

// TestRepeatedChirpOf checks the wider window the repeater subtest allows a
// chirp a repeater brought back: up to pact.MaxRepeatDelay minutes more
// before the minute it was heard, never after the tolerance.
func TestRepeatedChirpOf(t *testing.T) {
	seed := pact.Seed{4, 5, 6}
	window := []seedEntry{{seed: seed, start: 1000, end: 1059}}
	hexChirp := func(m pact.Minute) string {
		c := pact.ChirpAt(&seed, m)
		return hex.EncodeToString(c[:])
	}
	late := pact.MaxRepeatDelay + pact.DefaultMatchTolerance
	for _, tc := range []struct {
		name        string
		row         contactRow
		wantOK      bool
		wantChirped pact.Minute
	}{
		{"heard in its minute", contactRow{chirp: hexChirp(1010), minute: 1010}, true, 1010},
		{"heard the longest delay late", contactRow{chirp: hexChirp(1010), minute: 1010 + late}, true, 1010},
		{"heard past the longest delay", contactRow{chirp: hexChirp(1010), minute: 1010 + late + 1}, false, 0},
		{"heard two minutes early", contactRow{chirp: hexChirp(1010), minute: 1008}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := repeatedChirpOf(tc.row, window)
			if ok != tc.wantOK || got.chirped != tc.wantChirped {
				t.Fatalf("repeatedChirpOf = %+v, %v; want chirped %d, %v", got, ok, tc.wantChirped, tc.wantOK)
			}
		})
	}
	// chirpOf keeps the direct tolerance for the same row.
	if _, ok := chirpOf(contactRow{chirp: hexChirp(1010), minute: 1013}, window); ok {
		t.Error("chirpOf accepted a chirp heard three minutes late")
	}
}
