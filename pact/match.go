package pact

import (
	"bytes"
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// DefaultMatchTolerance is how far, in minutes either side, the minute a
// chirp was heard may lie from the minute it belongs to (spec §8.1). One
// minute is what spec §2's clock rule needs: clocks within MaxClockError
// and a switch within 30 s of the minute boundary keep the minute heard
// within one of the chirp's minute. A replay at any other time does not
// match.
const DefaultMatchTolerance Minute = 1

// MaxMatchTolerance bounds MatchOptions.Tolerance: a wider window would
// let a replay an hour later match, which defeats spec §8.1.
const MaxMatchTolerance Minute = 30

// MaxRepeatDelay is D, the largest delay, in minutes, between a chirp's
// own minute and a repeater's rebroadcast of it that the protocol
// tolerates (spec §9.1.2). A sighting of an indirect source
// (Source.Indirect) heard at minute h matches the chirp of minute t when
// h-D-τ <= t <= h+τ; a direct sighting keeps |h-t| <= τ. A repeater never
// rebroadcasts a chirp or key more than D minutes after it first heard it.
const MaxRepeatDelay Minute = 15

// MaxMatchSpan bounds the minutes between the oldest and the newest
// sighting a Matcher indexes: a year, four times the retention period. The
// minute index costs a few bytes per minute of span, so a sighting with a
// wild timestamp must not be able to inflate it.
const MaxMatchSpan = 366 * MinutesPerDay

// MatchOptions configure a Matcher (spec §8).
type MatchOptions struct {
	// Tolerance is how many minutes either side of a chirp's own minute it
	// may have been heard. Zero selects DefaultMatchTolerance; set
	// ExactMinute for a tolerance of zero.
	Tolerance Minute
	// ExactMinute matches only chirps heard in their own minute.
	ExactMinute bool
	// Workers is how many goroutines match at once; zero means
	// GOMAXPROCS. The output does not depend on it.
	Workers int
	// Score calibrates the exposure score of the report's days (spec
	// §8.4).
	Score ScoreOptions
	// From and To restrict matching to sightings heard in [From, To].
	// Both zero means the whole contact log. Choosing the exposure period
	// here (for example the last 21 days) keeps the index small; contacts
	// heard outside the window are not reported.
	From, To Minute
}

func (o MatchOptions) tolerance() (Minute, error) {
	switch {
	case o.ExactMinute && o.Tolerance != 0:
		return 0, fmt.Errorf("match options: tolerance %d contradicts ExactMinute: %w", o.Tolerance, ErrMatchOptions)
	case o.ExactMinute:
		return 0, nil
	case o.Tolerance == 0:
		return DefaultMatchTolerance, nil
	case o.Tolerance > MaxMatchTolerance:
		return 0, fmt.Errorf("match options: tolerance %d minutes exceeds the limit %d: %w", o.Tolerance, MaxMatchTolerance, ErrMatchOptions)
	}
	return o.Tolerance, nil
}

func (o MatchOptions) window() (from, to Minute, err error) {
	if o.From == 0 && o.To == 0 {
		return 0, ^Minute(0), nil
	}
	if o.From > o.To {
		return 0, 0, fmt.Errorf("match options: window from %d is after to %d: %w", o.From, o.To, ErrMatchOptions)
	}
	return o.From, o.To, nil
}

// Contact is one match: a chirp of an exposure tuple found in the contact
// log (spec §8.1).
type Contact struct {
	// TupleIndex is the position of the tuple in the exposure stream,
	// counting from 0.
	TupleIndex int64
	// Seed is the tuple's seed.
	Seed Seed
	// ChirpMinute is the minute t with PRF(Seed, t) = Chirp.
	ChirpMinute Minute
	// Heard is the minute the contact log recorded the chirp, within the
	// tolerance of ChirpMinute, or for an indirect source (Source.Indirect)
	// up to MaxRepeatDelay minutes later (spec §9.1.3).
	Heard Minute
	Chirp Chirp
	// RSSI is the strongest reading in that minute, or RSSIUnknown.
	RSSI int8
	// TxPower is the sighting's TX power, or TxPowerUnknown (spec §5.2).
	TxPower  int8
	Source   Source
	Location *Location
}

// MatchStats counts the work a match did, so that the claims of spec §8.3
// (no key derived and no chirp computed that cannot match) can be checked.
type MatchStats struct {
	// Tuples is how many exposure tuples were read.
	Tuples int64
	// TuplesSkipped had no sighting within the tolerance of any of their
	// minutes, so no key was derived for them.
	TuplesSkipped int64
	// KeysDerived is how many seeds were expanded into an AES-256 key
	// schedule (spec §4.1).
	KeysDerived int64
	// ChirpsComputed is how many PRF outputs were computed.
	ChirpsComputed int64
	// CandidateChirps passed the per-minute filter and were looked up in
	// the table; all but the contacts are filter false positives.
	CandidateChirps int64
	// Contacts is how many contacts were reported, including the one
	// whose callback stopped the match.
	Contacts int64
	// SealedUnopened counts sealed sightings whose tag matched a computed
	// chirp but which did not open under it (spec §9.3.3): rows changed
	// on disk. They are not reported.
	SealedUnopened int64
}

// Add accumulates o into s.
func (s *MatchStats) Add(o MatchStats) {
	s.Tuples += o.Tuples
	s.TuplesSkipped += o.TuplesSkipped
	s.KeysDerived += o.KeysDerived
	s.ChirpsComputed += o.ChirpsComputed
	s.CandidateChirps += o.CandidateChirps
	s.Contacts += o.Contacts
	s.SealedUnopened += o.SealedUnopened
}

// MatchReport is the outcome of one pass over an exposure stream.
type MatchReport struct {
	// Days summarises the direct contacts per UTC day of the minute
	// heard, in day order, with the exposure score and its rolling 24-hour
	// peak (spec §8.4); days without contacts are absent.
	Days []DaySummary
	// Indirect summarises, in the same way and apart from Days, the
	// contacts heard from a repeater (Source.Indirect): the device was
	// where the exposed person had been minutes before, not necessarily
	// near them (spec §9.1.3).
	Indirect []DaySummary
	Stats    MatchStats
}

// Matcher finds exposure tuples in a contact log (spec §8). It indexes the
// contact log once; Match then streams any number of tuples through the
// index using memory that depends only on the contact log. A Matcher is
// immutable after NewMatcher and safe for concurrent Match calls.
type Matcher struct {
	tol     Minute
	workers int
	score   ScoreOptions

	// base is the first minute the need bitset covers; bit i of need is
	// set when some sighting lies within tol of minute base+i, that is
	// when the chirp of minute base+i could match.
	base Minute
	span int
	need []uint64

	entries   []indexEntry // sorted by chirp, then minute heard
	sources   []Source
	locations []Location
	// indirect[i] says sources[i] is an indirect source, whose
	// sightings match chirps up to MaxRepeatDelay minutes older (spec
	// §9.1.3); maxLate is MaxRepeatDelay when some entry has one, else 0.
	indirect []bool
	maxLate  Minute

	// hidden says the index holds a sealed contact log (spec §9.3): an
	// entry's chirp field holds the lookup tag, zero-padded, its loc
	// indexes sealed, and a computed chirp is looked up by its tag.
	hidden bool
	sealed [][]byte

	// filter rejects almost every computed chirp before the table is
	// touched. It is a blocked Bloom filter keyed by chirp prefix and
	// minute: minute base+i owns the words filter[f.off : f.off+f.n] for
	// f = filterAt[i], sized to the sightings within tol of that minute.
	// A run of consecutive minutes therefore reads one contiguous,
	// cache-friendly stretch of the filter, and a replay at the wrong
	// time is rejected here.
	filterAt []filterSpan
	filter   []uint64
	// table maps a chirp's 64-bit prefix to its run of entries.
	salt      uint64
	table     []tableSlot
	tableMask uint64
}

type filterSpan struct {
	off uint32
	n   uint32 // a power of two, or zero when no sighting is near
}

type indexEntry struct {
	chirp Chirp // the chirp, or in a hidden index its tag, zero-padded
	heard Minute
	rssi  int8
	tx    int8 // TX power, or TxPowerUnknown
	src   uint8
	loc   int32 // index into locations (into sealed when hidden), or -1
}

type tableSlot struct {
	prefix uint64
	start  uint32
	count  uint32 // zero marks an empty slot
}

// maxSources bounds the distinct Source strings one index holds.
const maxSources = 255

// NewMatcher indexes the sightings that lie in the options' window. A
// (chirp, minute) that appears more than once is kept once with the
// stronger RSSI, as in the contact log (spec §5.2).
func NewMatcher(sightings iter.Seq[Sighting], opts MatchOptions) (*Matcher, error) {
	b, err := newMatcherBuilder(opts)
	if err != nil {
		return nil, err
	}
	for s := range sightings {
		if err := b.add(s); err != nil {
			return nil, err
		}
	}
	return b.build()
}

// LoadMatcher indexes the sightings of store in the options' window. A
// SealedContactStore whose log is hidden is indexed by tag: a match then
// opens only the sightings of the chirps it found (spec §9.3.3).
func LoadMatcher(ctx context.Context, store ContactStore, opts MatchOptions) (*Matcher, error) {
	b, err := newMatcherBuilder(opts)
	if err != nil {
		return nil, err
	}
	if ss, ok := store.(SealedContactStore); ok {
		sealed, err := ss.ContactLogSealed(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading the contact log for matching: %w", err)
		}
		if sealed {
			b.m.hidden = true
			if err := ss.SealedSightings(ctx, b.from, b.to, b.addSealed); err != nil {
				return nil, fmt.Errorf("loading the sealed contact log for matching: %w", err)
			}
			return b.build()
		}
	}
	if err := store.Sightings(ctx, b.from, b.to, b.add); err != nil {
		return nil, fmt.Errorf("loading the contact log for matching: %w", err)
	}
	return b.build()
}

type matcherBuilder struct {
	m        *Matcher
	from, to Minute
	srcIndex map[Source]uint8
}

func newMatcherBuilder(opts MatchOptions) (*matcherBuilder, error) {
	tol, err := opts.tolerance()
	if err != nil {
		return nil, err
	}
	from, to, err := opts.window()
	if err != nil {
		return nil, err
	}
	if err := opts.Score.Validate(); err != nil {
		return nil, fmt.Errorf("match options: %w", err)
	}
	workers := opts.Workers
	switch {
	case workers < 0:
		return nil, fmt.Errorf("match options: %d workers: %w", workers, ErrMatchOptions)
	case workers == 0:
		workers = runtime.GOMAXPROCS(0)
	}
	return &matcherBuilder{
		m:        &Matcher{tol: tol, workers: workers, score: opts.Score},
		from:     from,
		to:       to,
		srcIndex: map[Source]uint8{},
	}, nil
}

func (b *matcherBuilder) add(s Sighting) error {
	if s.Minute < b.from || s.Minute > b.to {
		return nil
	}
	m := b.m
	src, ok := b.srcIndex[s.Source]
	if !ok {
		if len(m.sources) == maxSources {
			return fmt.Errorf("matcher: source %q is one more than the %d distinct sources an index holds", s.Source, maxSources)
		}
		src = uint8(len(m.sources))
		m.sources = append(m.sources, s.Source)
		m.indirect = append(m.indirect, s.Source.Indirect())
		b.srcIndex[s.Source] = src
	}
	if s.Source.Indirect() {
		m.maxLate = MaxRepeatDelay
	}
	loc := int32(-1)
	if s.Location != nil {
		loc = int32(len(m.locations))
		m.locations = append(m.locations, *s.Location)
	}
	m.entries = append(m.entries, indexEntry{chirp: s.Chirp, heard: s.Minute, rssi: s.RSSI, tx: s.TxPower, src: src, loc: loc})
	return nil
}

// NewSealedMatcher indexes sealed sightings (spec §9.3.3), as LoadMatcher
// does for a hidden SealedContactStore.
func NewSealedMatcher(sightings iter.Seq[SealedSighting], opts MatchOptions) (*Matcher, error) {
	b, err := newMatcherBuilder(opts)
	if err != nil {
		return nil, err
	}
	b.m.hidden = true
	for s := range sightings {
		if err := b.addSealed(s); err != nil {
			return nil, err
		}
	}
	return b.build()
}

func (b *matcherBuilder) addSealed(s SealedSighting) error {
	if s.Minute < b.from || s.Minute > b.to {
		return nil
	}
	m := b.m
	e := indexEntry{heard: s.Minute, loc: int32(len(m.sealed)), rssi: RSSIUnknown, tx: TxPowerUnknown}
	copy(e.chirp[:], s.Tag[:])
	// The source is sealed, so any row may be a repeated sighting, heard
	// up to MaxRepeatDelay after its chirp's minute (spec §9.1.3):
	// chirpMinutes widens every hidden entry, and openSealed drops a late
	// match whose opened source is direct.
	m.maxLate = MaxRepeatDelay
	m.sealed = append(m.sealed, s.Sealed)
	m.entries = append(m.entries, e)
	return nil
}

func (b *matcherBuilder) build() (*Matcher, error) {
	m := b.m
	slices.SortFunc(m.entries, func(x, y indexEntry) int {
		if c := bytes.Compare(x.chirp[:], y.chirp[:]); c != 0 {
			return c
		}
		return cmp.Compare(x.heard, y.heard)
	})
	// Keep one entry per (chirp, minute), as the contact log does.
	out := m.entries[:0]
	for _, e := range m.entries {
		if n := len(out); n > 0 && !m.hidden && out[n-1].chirp == e.chirp && out[n-1].heard == e.heard {
			out[n-1].rssi = MergeRSSI(out[n-1].rssi, e.rssi)
			out[n-1].tx = MergeTxPower(out[n-1].tx, e.tx)
			if m.indirect[out[n-1].src] && !m.indirect[e.src] {
				out[n-1].src = e.src // PreferDirect
			}
			if out[n-1].loc < 0 {
				out[n-1].loc = e.loc
			}
			continue
		}
		out = append(out, e)
	}
	m.entries = slices.Clip(out)
	if err := m.buildMinuteIndex(); err != nil {
		return nil, err
	}
	m.buildTable()
	m.buildFilter()
	return m, nil
}

func (m *Matcher) buildMinuteIndex() error {
	if len(m.entries) == 0 {
		return nil
	}
	lo, hi := m.entries[0].heard, m.entries[0].heard
	for _, e := range m.entries {
		lo, hi = min(lo, e.heard), max(hi, e.heard)
	}
	if hi-lo >= MaxMatchSpan {
		return fmt.Errorf("matcher: sightings from %v to %v: %w (%d days); choose a window with MatchOptions.From and To",
			lo, hi, ErrMatchSpan, MaxMatchSpan/MinutesPerDay)
	}
	// Chirp minutes lo-tol-maxLate .. hi+tol can match; keep them inside
	// uint32.
	early := uint64(m.tol) + uint64(m.maxLate)
	first := uint64(lo) - min(uint64(lo), early)
	last := min(uint64(hi)+uint64(m.tol), uint64(^Minute(0)))
	m.base = Minute(first)
	m.span = int(last-first) + 1
	// One spare word lets neededMask read two words without a bounds test.
	m.need = make([]uint64, (m.span+63)/64+1)
	for _, e := range m.entries {
		from, to := m.chirpMinutes(&e)
		for i := max(from, 0); i <= to && i < m.span; i++ {
			m.need[i>>6] |= 1 << (i & 63)
		}
	}
	return nil
}

// chirpMinutes returns the chirp minutes, as offsets from m.base, that
// entry e can match: its minute heard ± τ, and for an indirect source
// also the MaxRepeatDelay minutes before (spec §9.1.3). In a hidden index
// every entry counts as possibly indirect, since its source is sealed.
// from may be negative.
func (m *Matcher) chirpMinutes(e *indexEntry) (from, to int) {
	at := int(e.heard - m.base)
	from = at - int(m.tol)
	if m.hidden || m.indirect[e.src] {
		from -= int(MaxRepeatDelay)
	}
	return from, at + int(m.tol)
}

// mix spreads a chirp prefix over 64 bits under a per-index secret salt,
// so that chirps an attacker broadcasts cannot be chosen to collide in the
// filter or the table.
func (m *Matcher) mix(prefix uint64) uint64 {
	h := (prefix ^ m.salt) * 0x9e3779b97f4a7c15
	return h ^ h>>29
}

func chirpPrefix(c []byte) uint64 { return binary.LittleEndian.Uint64(c[:8]) }

// keyHash is the filter and table hash of an index key: the mixed 64-bit
// prefix of a chirp, or in a hidden index the mixed first TagClearBytes of
// the tag, which are the chirp's own (spec §9.3.1), so that a computed
// chirp is tested against the filter before its tag is computed.
func (m *Matcher) keyHash(key []byte) uint64 {
	if m.hidden {
		return m.mix(uint64(binary.BigEndian.Uint16(key)))
	}
	return m.mix(chirpPrefix(key))
}

func filterMask(h uint64) uint64 {
	return 1<<(h&63) | 1<<(h>>6&63) | 1<<(h>>12&63)
}

// filterBitsPerSighting sizes each minute's filter. With three bits set per
// sighting, 16 bits per sighting keep false positives near 1% (less after
// rounding up to a power of two).
const filterBitsPerSighting = 16

func (m *Matcher) buildFilter() {
	if m.span == 0 {
		return
	}
	// near[i] counts the entries that can match the chirp of minute
	// base+i, summed from the differences at the ends of their ranges.
	delta := make([]int32, m.span+1)
	for _, e := range m.entries {
		from, to := m.chirpMinutes(&e)
		delta[max(from, 0)]++
		delta[min(to, m.span-1)+1]--
	}
	m.filterAt = make([]filterSpan, m.span)
	var off uint32
	near := 0
	for i := range m.filterAt {
		near += int(delta[i])
		if near == 0 {
			m.filterAt[i] = filterSpan{off: off}
			continue
		}
		words := uint32(1)
		for int(words)*64 < near*filterBitsPerSighting {
			words *= 2
		}
		m.filterAt[i] = filterSpan{off: off, n: words}
		off += words
	}
	m.filter = make([]uint64, off)
	for _, e := range m.entries {
		h := m.keyHash(e.chirp[:])
		from, to := m.chirpMinutes(&e)
		for i := max(from, 0); i <= to && i < m.span; i++ {
			f := m.filterAt[i]
			m.filter[f.off+uint32(h>>32)&(f.n-1)] |= filterMask(h)
		}
	}
}

// mayMatch reports whether a chirp with mixed prefix h could have been
// heard within the tolerance of minute t, or up to MaxRepeatDelay minutes
// later from a repeater.
func (m *Matcher) mayMatch(h uint64, t Minute) bool {
	i := int64(t) - int64(m.base)
	if i < 0 || i >= int64(m.span) {
		return false
	}
	f := m.filterAt[i]
	if f.n == 0 {
		return false
	}
	fm := filterMask(h)
	return m.filter[f.off+uint32(h>>32)&(f.n-1)]&fm == fm
}

func (m *Matcher) buildTable() {
	m.salt = rand.Uint64()
	groups := 0
	for i := range m.entries {
		if i == 0 || m.entries[i].chirp != m.entries[i-1].chirp {
			groups++
		}
	}
	slots := 2
	for slots < 2*groups {
		slots *= 2
	}
	m.table = make([]tableSlot, slots)
	m.tableMask = uint64(slots - 1)
	for start := 0; start < len(m.entries); {
		end := start + 1
		for end < len(m.entries) && m.entries[end].chirp == m.entries[start].chirp {
			end++
		}
		prefix := chirpPrefix(m.entries[start].chirp[:])
		h := m.keyHash(m.entries[start].chirp[:])
		// Distinct chirps may share a prefix; they get separate slots and
		// the probe compares the full chirp.
		for i := h & m.tableMask; ; i = (i + 1) & m.tableMask {
			if m.table[i].count == 0 {
				m.table[i] = tableSlot{prefix: prefix, start: uint32(start), count: uint32(end - start)}
				break
			}
		}
		start = end
	}
}

// Sightings returns how many distinct (chirp, minute) sightings the index
// holds.
func (m *Matcher) Sightings() int { return len(m.entries) }

// IndexBytes returns the memory the index holds. Match needs this plus a
// constant: two batches of tuples and one hour of keystream per worker.
func (m *Matcher) IndexBytes() int {
	return cap(m.entries)*40 + cap(m.locations)*16 + cap(m.need)*8 + cap(m.filter)*8 + cap(m.filterAt)*8 + cap(m.table)*16
}

// Tolerance returns the matching tolerance in minutes.
func (m *Matcher) Tolerance() Minute { return m.tol }

// lowBits returns a mask of the n lowest bits, n <= 64.
func lowBits(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// neededMask returns bit i set when the chirp of minute start+i could
// match, for i < n <= 64.
func (m *Matcher) neededMask(start Minute, n int) uint64 {
	lo := int64(start) - int64(m.base)
	if lo >= 0 && lo+int64(n) <= int64(m.span) {
		w, sh := lo>>6, uint(lo&63)
		v := m.need[w] >> sh
		if sh != 0 {
			v |= m.need[w+1] << (64 - sh)
		}
		return v & lowBits(n)
	}
	// The tuple straddles the edge of the index: test minute by minute.
	var v uint64
	for i := range n {
		j := lo + int64(i)
		if j >= 0 && j < int64(m.span) && m.need[j>>6]&(1<<(j&63)) != 0 {
			v |= 1 << i
		}
	}
	return v
}

// ErrStopMatch may be returned by a contact callback to end Match early
// without an error.
var ErrStopMatch = errors.New("stop matching")

// Errors of building a Matcher.
var (
	// ErrMatchOptions is a MatchOptions that contradicts itself or
	// exceeds a limit (MaxMatchTolerance).
	ErrMatchOptions = errors.New("invalid match options")
	// ErrMatchSpan is a contact log whose sightings span MaxMatchSpan or
	// more, more than one minute index covers.
	ErrMatchSpan = errors.New("sightings span more than a matcher indexes")
)

// ExposureTupleError is a tuple stream that Match stopped on: the index of
// the tuple in the stream and why, either the stream's own error or the
// tuple's shape (ErrTimeOrder, ErrWindow, spec §6.3).
type ExposureTupleError struct {
	Index   int64
	Err     error
	reading bool // the stream failed, as opposed to the tuple
}

func (e *ExposureTupleError) Error() string {
	if e.reading {
		return fmt.Sprintf("reading exposure tuple %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("exposure tuple %d: %v", e.Index, e.Err)
}

func (e *ExposureTupleError) Unwrap() error { return e.Err }

// Match streams exposure tuples through the index and calls onContact, if
// not nil, for every contact, in stream order and then by chirp minute and
// minute heard. It derives a key only for a tuple that has a sighting
// within the tolerance of one of its minutes, and computes a chirp only for
// such minutes (spec §8.2). A tuple that breaks the shape rules of spec
// §6.3 (start after end, an hour or longer) ends the match with an error.
func (m *Matcher) Match(tuples iter.Seq2[Tuple, error], onContact func(Contact) error) (MatchReport, error) {
	return m.match(tuples, onContact, false)
}

// MatchNaive is the reference matcher of spec §8.2: it derives every key
// and computes every chirp of every tuple, then looks each up in the same
// index. It reports exactly what Match reports, only slower; it exists to
// check and to measure Match.
func (m *Matcher) MatchNaive(tuples iter.Seq2[Tuple, error], onContact func(Contact) error) (MatchReport, error) {
	return m.match(tuples, onContact, true)
}

// matchBatchSize is how many tuples that could match Match collects
// before matching them. A batch is matched in order of start hour, so that consecutive tuples
// read the same stretch of the minute filter while it is still in cache;
// the exposure stream itself may come in any order.
const matchBatchSize = 1 << 15

type pendingTuple struct {
	idx  int64
	mask uint64 // neededMask of the tuple
	t    Tuple
}

type foundContact struct {
	c     Contact
	entry int
}

func (m *Matcher) match(tuples iter.Seq2[Tuple, error], onContact func(Contact) error, naive bool) (MatchReport, error) {
	workers := make([]*matchWorker, m.workers)
	for i := range workers {
		workers[i] = newMatchWorker(m, naive)
	}
	sum := newDayAccumulator(len(m.entries), m.score)
	indirect := newDayAccumulator(len(m.entries), m.score)
	var delivered int64
	var read MatchStats
	report := func() MatchReport {
		st := read
		for _, w := range workers {
			st.Add(w.stats)
		}
		st.Contacts = delivered
		return MatchReport{Stats: st, Days: sum.days(), Indirect: indirect.days()}
	}
	batch := make([]pendingTuple, 0, matchBatchSize)
	sorted := make([]pendingTuple, 0, matchBatchSize)
	var found []foundContact
	flush := func() error {
		sorted = sortByStart(batch, sorted[:0])
		found = m.matchBatch(workers, sorted, found[:0])
		batch = batch[:0]
		for i := range found {
			f := &found[i]
			if f.c.Source.Indirect() {
				indirect.add(&f.c, f.entry)
			} else {
				sum.add(&f.c, f.entry)
			}
			delivered++
			if onContact != nil {
				if err := onContact(f.c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var idx int64
	var readErr error
	for t, err := range tuples {
		if err != nil {
			readErr = &ExposureTupleError{Index: idx, Err: err, reading: true}
			break
		}
		if err := t.checkShape(); err != nil {
			readErr = &ExposureTupleError{Index: idx, Err: err}
			break
		}
		read.Tuples++
		p := pendingTuple{idx: idx, t: t}
		idx++
		if !naive {
			// Most tuples end here, before they take space in a batch.
			if p.mask = m.neededMask(t.Start, t.Minutes()); p.mask == 0 {
				read.TuplesSkipped++
				continue
			}
		}
		batch = append(batch, p)
		if len(batch) == matchBatchSize {
			if err := flush(); err != nil {
				return stopped(report(), err)
			}
		}
	}
	// Tuples before a bad one are still matched and reported.
	if err := flush(); err != nil {
		return stopped(report(), err)
	}
	return report(), readErr
}

func stopped(r MatchReport, err error) (MatchReport, error) {
	if errors.Is(err, ErrStopMatch) {
		return r, nil
	}
	return r, err
}

// matchBatch matches a batch sorted by start on the workers and appends
// the contacts to found in stream order: by tuple, then chirp minute, then
// minute heard.
func (m *Matcher) matchBatch(workers []*matchWorker, batch []pendingTuple, found []foundContact) []foundContact {
	if len(workers) == 1 || len(batch) < 2*len(workers) {
		w := workers[0]
		for i := range batch {
			w.match(&batch[i])
		}
	} else {
		var wg sync.WaitGroup
		chunk := (len(batch) + len(workers) - 1) / len(workers)
		for k, w := range workers {
			part := batch[min(k*chunk, len(batch)):min((k+1)*chunk, len(batch))]
			wg.Go(func() {
				for i := range part {
					w.match(&part[i])
				}
			})
		}
		wg.Wait()
	}
	for _, w := range workers {
		found = append(found, w.found...)
		w.found = w.found[:0]
	}
	// Within a tuple, contacts are already in minute order.
	slices.SortStableFunc(found, func(a, b foundContact) int { return cmp.Compare(a.c.TupleIndex, b.c.TupleIndex) })
	return found
}

// sortByStart appends the batch to dst in order of start hour, keeping
// stream order within an hour: a counting sort, so that the workers then
// read the tuples sequentially.
func sortByStart(batch, dst []pendingTuple) []pendingTuple {
	if len(batch) == 0 {
		return dst
	}
	lo, hi := batch[0].t.Start/MinutesPerHour, batch[0].t.Start/MinutesPerHour
	for i := range batch {
		h := batch[i].t.Start / MinutesPerHour
		lo, hi = min(lo, h), max(hi, h)
	}
	if hi-lo >= 1<<20 {
		dst = append(dst, batch...)
		slices.SortStableFunc(dst, func(a, b pendingTuple) int { return cmp.Compare(a.t.Start/MinutesPerHour, b.t.Start/MinutesPerHour) })
		return dst
	}
	count := make([]int32, hi-lo+2)
	for i := range batch {
		count[batch[i].t.Start/MinutesPerHour-lo+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	base := len(dst)
	dst = dst[:base+len(batch)]
	for i := range batch {
		h := batch[i].t.Start/MinutesPerHour - lo
		dst[base+int(count[h])] = batch[i]
		count[h]++
	}
	return dst
}

// chirpStride is the keystream bytes per minute: two AES blocks, of which
// the chirp is the first ChirpSize bytes (spec §4.1).
const chirpStride = 2 * aes.BlockSize

// ctrMinRun is the shortest run of minutes computed with one CTR stream;
// shorter runs encrypt block by block, because setting up a CTR stream (an
// allocation and a copy of the key schedule) costs about as much as a
// handful of chirps computed one block at a time.
const ctrMinRun = 8

var zeroHour [MinutesPerHour * chirpStride]byte

// matchWorker holds the per-goroutine scratch space, counters and the
// contacts found in the current batch.
type matchWorker struct {
	m      *Matcher
	naive  bool
	stats  MatchStats
	found  []foundContact
	stream [MinutesPerHour * chirpStride]byte
	block  [2 * aes.BlockSize]byte
	tag    Chirp // tagKey's result; bytes TagSize.. stay zero
}

func newMatchWorker(m *Matcher, naive bool) *matchWorker {
	w := &matchWorker{m: m, naive: naive}
	copy(w.block[:8], chirpDomain[:])
	copy(w.block[aes.BlockSize:], chirpDomain[:])
	return w
}

func (w *matchWorker) match(p *pendingTuple) {
	if w.naive {
		w.matchNaive(p.idx, &p.t)
	} else {
		w.matchTuple(p.idx, &p.t, p.mask)
	}
}

// chirpRun fills w.stream with the chirps of minutes from .. from+n-1 at a
// stride of chirpStride bytes, as ChirpKey.Chirps would compute them.
func (w *matchWorker) chirpRun(block cipher.Block, from Minute, n int) {
	w.stats.ChirpsComputed += int64(n)
	if n >= ctrMinRun {
		iv := prfBlock(chirpDomain, 2*uint64(from))
		cipher.NewCTR(block, iv[:]).XORKeyStream(w.stream[:n*chirpStride], zeroHour[:n*chirpStride])
		return
	}
	for i := range n {
		ctr := 2 * uint64(from+Minute(i))
		binary.BigEndian.PutUint64(w.block[8:16], ctr)
		binary.BigEndian.PutUint64(w.block[aes.BlockSize+8:], ctr+1)
		block.Encrypt(w.stream[i*chirpStride:], w.block[:aes.BlockSize])
		block.Encrypt(w.stream[i*chirpStride+aes.BlockSize:], w.block[aes.BlockSize:])
	}
}

func (w *matchWorker) matchTuple(idx int64, t *Tuple, mask uint64) {
	block := newChirpCipher(&t.Seed)
	w.stats.KeysDerived++
	m := w.m
	for mask != 0 {
		off := bits.TrailingZeros64(mask)
		run := bits.TrailingZeros64(^(mask >> off))
		mask &^= lowBits(run) << off
		from := t.Start + Minute(off)
		w.chirpRun(block, from, run)
		// The filter test of mayMatch, inlined: a set bit in the minute
		// index means the minute lies in the index and its filter is
		// not empty, so only the table look-up needs a call.
		spans := m.filterAt[from-m.base:][:run]
		if m.hidden {
			w.matchHiddenRun(idx, t, from, spans)
			continue
		}
		for i, f := range spans {
			c := w.stream[i*chirpStride : i*chirpStride+ChirpSize]
			h := m.mix(chirpPrefix(c))
			fm := filterMask(h)
			if f.n == 0 || m.filter[f.off+uint32(h>>32)&(f.n-1)]&fm != fm {
				continue
			}
			w.lookupTable(idx, t, from+Minute(i), c, c, h)
		}
	}
}

// matchHiddenRun is matchTuple's inner loop over a hidden index: the
// filter tests the chirp's clear tag bytes, and only a chirp that passes
// has its tag computed and looked up (spec §9.3.3).
func (w *matchWorker) matchHiddenRun(idx int64, t *Tuple, from Minute, spans []filterSpan) {
	m := w.m
	for i, f := range spans {
		c := w.stream[i*chirpStride : i*chirpStride+ChirpSize]
		h := m.keyHash(c)
		fm := filterMask(h)
		if f.n == 0 || m.filter[f.off+uint32(h>>32)&(f.n-1)]&fm != fm {
			continue
		}
		w.lookupTable(idx, t, from+Minute(i), w.tagKey(c), c, h)
	}
}

func (w *matchWorker) matchNaive(idx int64, t *Tuple) {
	n := t.Minutes()
	k := NewChirpKey(&t.Seed)
	w.stats.KeysDerived++
	var chirps [MinutesPerHour]Chirp
	k.Chirps(t.Start, chirps[:n])
	w.stats.ChirpsComputed += int64(n)
	for i := range n {
		w.lookup(idx, t, t.Start+Minute(i), chirps[i][:])
	}
}

// lookup records every sighting of chirp c heard within the tolerance of
// minute t.
func (w *matchWorker) lookup(idx int64, t *Tuple, minute Minute, c []byte) {
	h := w.m.keyHash(c)
	if !w.m.mayMatch(h, minute) {
		return
	}
	key := c
	if w.m.hidden {
		key = w.tagKey(c)
	}
	w.lookupTable(idx, t, minute, key, c, h)
}

// tagKey returns the index key of chirp c in a hidden index: its tag,
// zero-padded to a chirp's length (spec §9.3.1).
func (w *matchWorker) tagKey(c []byte) []byte {
	tag := ContactTag((*Chirp)(c))
	copy(w.tag[:], tag[:])
	return w.tag[:]
}

// lookupTable records every sighting of chirp c, whose index key (c
// itself, or its tag in a hidden index) has the hash h (keyHash), heard
// within the tolerance of minute t; the key has passed the filter.
func (w *matchWorker) lookupTable(idx int64, t *Tuple, minute Minute, key, c []byte, h uint64) {
	m := w.m
	prefix := chirpPrefix(key)
	w.stats.CandidateChirps++
	for i := h & m.tableMask; ; i = (i + 1) & m.tableMask {
		s := &m.table[i]
		if s.count == 0 {
			return
		}
		if s.prefix != prefix || !bytes.Equal(m.entries[s.start].chirp[:], key) {
			continue
		}
		for j := s.start; j < s.start+s.count; j++ {
			e := &m.entries[j]
			d := int64(e.heard) - int64(minute)
			if d < -int64(m.tol) {
				continue
			}
			if d > int64(m.tol)+int64(m.maxLate) {
				break
			}
			if m.hidden {
				w.openSealed(idx, t, minute, e, Chirp(c), int(j), d > int64(m.tol))
				continue
			}
			if d > int64(m.tol) && !m.indirect[e.src] {
				// A direct sighting keeps ±τ (spec §8.1); only a
				// repeated one may be heard later (§9.1.3).
				continue
			}
			c := Contact{
				TupleIndex:  idx,
				Seed:        t.Seed,
				ChirpMinute: minute,
				Heard:       e.heard,
				Chirp:       e.chirp,
				RSSI:        e.rssi,
				TxPower:     e.tx,
				Source:      m.sources[e.src],
			}
			if e.loc >= 0 {
				loc := m.locations[e.loc]
				c.Location = &loc
			}
			w.found = append(w.found, foundContact{c: c, entry: int(j)})
		}
		return
	}
}

// openSealed opens the sealed sighting of entry e, found for chirp c, and
// records it as a contact (spec §9.3.3). A row that does not open is
// counted and left out. late says e was heard more than τ after minute:
// it is a contact only if its source is a repeater's (spec §9.1.3), as
// lookupTable decides for a plain entry.
func (w *matchWorker) openSealed(idx int64, t *Tuple, minute Minute, e *indexEntry, c Chirp, entry int, late bool) {
	ss := SealedSighting{Minute: e.heard, Tag: Tag(e.chirp[:TagSize]), Sealed: w.m.sealed[e.loc]}
	s, err := OpenSighting(&ss, &c)
	if err != nil {
		w.stats.SealedUnopened++
		return
	}
	if late && !s.Source.Indirect() {
		return
	}
	w.found = append(w.found, foundContact{c: Contact{
		TupleIndex:  idx,
		Seed:        t.Seed,
		ChirpMinute: minute,
		Heard:       e.heard,
		Chirp:       c,
		RSSI:        s.RSSI,
		TxPower:     s.TxPower,
		Source:      s.Source,
		Location:    s.Location,
	}, entry: entry})
}

// TupleSeq streams a slice of tuples, for Match.
func TupleSeq(ts []Tuple) iter.Seq2[Tuple, error] {
	return func(yield func(Tuple, error) bool) {
		for _, t := range ts {
			if !yield(t, nil) {
				return
			}
		}
	}
}
