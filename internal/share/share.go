// Package share is the diagnosed user's side of PACT's tracing layer
// (spec §6, issue 8 "The diagnosed flow"): it shows what an upload would
// contain, builds it from the device's seed log with the hours the owner
// redacts replaced by fresh seeds (spec §6.4), adds the keys of the owner's
// Find My devices derived and signed on the device (docs/findmy.md §5, §8,
// §9), uploads it
// with a permission number (docs/api.md, "Upload"), records the attempt in
// the device database, and checks later signed batches for the upload
// (Tracker), so that a server that suppresses it is noticed.
//
// Nothing leaves the device before Submit: Preview opens no connection.
// The permission number is never stored, and the Find My key material
// (SK_0, SKS_0, d_0) is never sent: only the keys it yields for the shared
// window, each with its proof of possession.
package share

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/internal/authority/model"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Errors a request can fail validation with; each comes inside a
// *FieldError naming the request field.
var (
	ErrPermissionNumber = errors.New("permission number is not valid")
	ErrServer           = errors.New("not a configured exposure server")
	ErrRegion           = errors.New("region is not valid")
	ErrWindow           = errors.New("shared window is not valid")
	ErrExcludedHour     = errors.New("excluded hour is not an hour of the shared window")
	ErrReverseTracing   = errors.New("reverse-tracing range is not inside the shared window")
	ErrFindMyDevice     = errors.New("key material of a Find My device is not valid")
	ErrTooManyKeys      = errors.New("too many Find My keys for one upload")
	ErrNothingToShare   = errors.New("nothing to share in the window")
)

// FieldError is a request that failed validation: Field names the request
// field (permission_number, server, region, window, exclude[i],
// reverse_tracing, reverse_tracing.from, reverse_tracing.to,
// findmy[i].secret, findmy[i].private_key, findmy[i].secondary_secret,
// findmy[i].epoch, findmy) and Err
// wraps one of the sentinel errors above.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("share request field %s: %v", e.Field, e.Err) }

// Unwrap returns the cause.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldError(field string, sentinel error, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

// MaxFindMyKeys is the most keys one upload may carry (docs/api.md, "Find
// My keys": three weeks of 15-minute primary keys and 22 daily secondary
// keys for two devices).
const MaxFindMyKeys = 2 * (21*24*4 + 22)

// Server is an exposure server the owner may share with.
type Server struct {
	// Name identifies the server in the device database and in
	// Tracker.Observe.
	Name string
	// URL is its base URL, such as https://exposure.example.
	URL string
}

// Config configures a Service. DB and at least one server are required.
type Config struct {
	DB      *devicedb.DB
	Servers []Server
	// HTTPClient carries the upload; the node passes one that dials only
	// the configured servers, optionally through a proxy. Nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// Clock defaults to the wall clock, Rand to crypto/rand, Retention to
	// pact.DefaultRetention (as for the device's seed log).
	Clock     pact.Clock
	Rand      io.Reader
	Retention pact.Minute
	Logger    *slog.Logger
}

// Service runs the diagnosed flow on one device database.
type Service struct {
	db      *devicedb.DB
	servers []Server
	http    *http.Client
	clock   pact.Clock
	rand    io.Reader
	log     *slog.Logger
	seeds   *pact.SeedLog
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil {
		return nil, errors.New("share: a device database is required")
	}
	if len(cfg.Servers) == 0 {
		return nil, errors.New("share: at least one exposure server is required")
	}
	for i, s := range cfg.Servers {
		if s.Name == "" || s.URL == "" {
			return nil, fmt.Errorf("share: server %d (%q at %q): want a name and a URL", i, s.Name, s.URL)
		}
	}
	s := &Service{db: cfg.DB, servers: slices.Clone(cfg.Servers), http: cfg.HTTPClient, clock: cfg.Clock, rand: cfg.Rand, log: cfg.Logger}
	if s.http == nil {
		s.http = http.DefaultClient
	}
	if s.clock == nil {
		s.clock = pact.SystemClock{}
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.seeds = pact.NewSeedLog(cfg.DB, pact.SeedLogOptions{Clock: s.clock, Rand: s.rand, Retention: cfg.Retention})
	return s, nil
}

// Request is what the owner chose on the share page.
type Request struct {
	// PermissionNumber is the one-time number from the health provider, in
	// any form docs/api.md accepts. Submit requires it; Preview checks it
	// when given, so a typo shows before anything is sent.
	PermissionNumber string
	// Server names one of Config.Servers; "" means the first.
	Server string
	// Region is the region the upload is published in.
	Region string
	// From and To bound the shared window; zero values mean the last
	// pact.DefaultBundleDays days up to now (spec §6.4).
	From, To time.Time
	// Exclude lists hours (their first minute) to redact: each is sent
	// with a fresh random seed in place of the device's (spec §6.4).
	Exclude []pact.Minute
	// ReverseTracing, when set, is the owner's consent to reverse tracing
	// (spec §9.2) over these minutes. What is sent is clipped to the
	// shared window and rounded inward to whole hours (Preview shows it);
	// a range outside the window, or without a whole hour in it, is
	// refused.
	ReverseTracing *exposureclient.MinuteRange
	// FindMy are the owner's Find My devices whose keys are added.
	FindMy []FindMyDevice
}

// FindMyDevice is the exported key material of one Find My accessory, as
// `findmy-harvester derive` takes it. It never leaves the device.
type FindMyDevice struct {
	// Name is the owner's label, shown back in the preview only.
	Name string
	// Secret is SK_0, 32 bytes in hex (docs/findmy.md §5).
	Secret string
	// PrivateKey is d_0, 28 bytes in hex: it signs every key's proof of
	// possession (docs/findmy.md §8.4); P_0 alone cannot.
	PrivateKey string
	// SecondarySecret is SKS_0, 32 bytes in hex, or empty when the
	// device's secondary keys are not shared (docs/findmy.md §9).
	SecondarySecret string
	// Epoch is the pairing time: key i is current from Epoch + 15 min * i.
	// Its UTC offset is the accessory's local time, which places the
	// secondary keys' 04:00 rollover (docs/findmy.md §9.2).
	Epoch time.Time
}

// Hour is one hour of the shared window for which the seed log holds a
// seed, with the minutes its tuple covers.
type Hour struct {
	Hour       pact.Minute // first minute of the hour
	Start, End pact.Minute // the tuple's window (spec §6.4)
	Excluded   bool
}

// DeviceKeys tells how many keys a Find My device yields in the window.
type DeviceKeys struct {
	Name string
	// Keys is how many keys are sent; Redacted of them are fresh random
	// keys standing for keys current in an excluded hour.
	Keys, Redacted int
	// First and Last bound the minutes the keys cover.
	First, Last pact.Minute
}

// Preview is what an upload would contain.
type Preview struct {
	Server, Region string
	// From and To are the shared window, in minutes.
	From, To pact.Minute
	// Hours is the timeline, in hour order.
	Hours          []Hour
	Excluded       int
	ReverseTracing *exposureclient.MinuteRange
	FindMy         []DeviceKeys
	// FindMyKeys is the total over FindMy.
	FindMyKeys int
}

// plan is a validated request.
type plan struct {
	Preview
	server   Server
	number   model.PermissionNumber
	excluded map[pact.Minute]bool
	bundle   pact.BundleOptions
	devices  []deviceKeys
}

// Preview validates r and returns what Submit would upload. It reads the
// device database and opens no connection.
func (s *Service) Preview(ctx context.Context, r Request) (Preview, error) {
	p, err := s.plan(ctx, r, false)
	if err != nil {
		return Preview{}, err
	}
	return p.Preview, nil
}

func (s *Service) plan(ctx context.Context, r Request, needNumber bool) (*plan, error) {
	p := &plan{excluded: make(map[pact.Minute]bool)}
	if r.PermissionNumber != "" || needNumber {
		n, err := model.ParsePermissionNumber(r.PermissionNumber)
		if err != nil {
			return nil, &FieldError{Field: "permission_number", Err: fmt.Errorf("%w: %w", ErrPermissionNumber, err)}
		}
		p.number = n
	}
	p.server = s.servers[0]
	if r.Server != "" {
		i := slices.IndexFunc(s.servers, func(sv Server) bool { return sv.Name == r.Server })
		if i < 0 {
			return nil, fieldError("server", ErrServer, "%q", r.Server)
		}
		p.server = s.servers[i]
	}
	if err := batch.ValidRegion(r.Region); err != nil {
		return nil, &FieldError{Field: "region", Err: fmt.Errorf("%w: %w", ErrRegion, err)}
	}
	p.Server, p.Region = p.server.Name, r.Region

	// The window, fixed here so that Preview, the bundle and the checks
	// of the reverse-tracing range and the keys all use the same one.
	now := s.clock.Now()
	to := now
	if !r.To.IsZero() {
		to = r.To
		if to.After(now) {
			to = now
		}
	}
	from := to.Add(-pact.DefaultBundleDays * 24 * time.Hour)
	if !r.From.IsZero() {
		from = r.From
	}
	if from.After(to) {
		return nil, fieldError("window", ErrWindow, "from %s is after to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	p.bundle = pact.BundleOptions{From: from, To: to}
	p.From, p.To = pact.MinuteOf(from).HourStart(), pact.MinuteOf(to)

	tuples, err := s.seeds.Bundle(ctx, p.bundle)
	if err != nil {
		return nil, fmt.Errorf("share: reading the seed log: %w", err)
	}
	hours := make(map[pact.Minute]int, len(tuples))
	for _, t := range tuples {
		hours[t.Start.HourStart()] = len(p.Hours)
		p.Hours = append(p.Hours, Hour{Hour: t.Start.HourStart(), Start: t.Start, End: t.End})
	}
	for i, h := range r.Exclude {
		j, ok := hours[h]
		if !ok {
			return nil, fieldError(fmt.Sprintf("exclude[%d]", i), ErrExcludedHour, "%v has no seed in %v..%v", h, p.From, p.To)
		}
		if !p.Hours[j].Excluded {
			p.Hours[j].Excluded = true
			p.excluded[h] = true
			p.Excluded++
		}
	}
	p.bundle.Exclude = func(h pact.Minute) bool { return p.excluded[h] }

	if rt := r.ReverseTracing; rt != nil {
		sent, err := reverseRange(*rt, p.From, p.To)
		if err != nil {
			return nil, err
		}
		p.ReverseTracing = &sent
	}

	for i, d := range r.FindMy {
		dk, err := planDevice(i, d, from, to, p.excluded)
		if err != nil {
			return nil, err
		}
		// The same accessory twice would upload every key twice.
		if j := slices.IndexFunc(p.devices, func(o deviceKeys) bool { return o.secret == dk.secret }); j >= 0 {
			return nil, fieldError(fmt.Sprintf("findmy[%d].secret", i), ErrFindMyDevice, "same accessory as findmy[%d]", j)
		}
		p.devices = append(p.devices, dk)
		p.FindMy = append(p.FindMy, dk.summary)
		p.FindMyKeys += dk.summary.Keys
	}
	if p.FindMyKeys > MaxFindMyKeys {
		return nil, fieldError("findmy", ErrTooManyKeys, "%d keys, limit %d", p.FindMyKeys, MaxFindMyKeys)
	}
	if len(p.Hours) == 0 && p.FindMyKeys == 0 {
		return nil, fieldError("window", ErrNothingToShare, "no seed and no Find My key in %v..%v", p.From, p.To)
	}
	return p, nil
}

// reverseRange returns the reverse-tracing range sent for the owner's
// range rt over the shared window [from, to] (spec §9.2): rt clipped to
// the window and, inside it, rounded inward to whole hours, the tuples'
// granularity. The flags the server derives from it then cover whole
// tuples, and reveal no time finer than the tuples' own windows. Only
// shrinking keeps to what the owner consented to: minutes outside the
// window have no seed anyway, and a part of an hour is left out rather
// than the whole hour put in.
func reverseRange(rt exposureclient.MinuteRange, from, to pact.Minute) (exposureclient.MinuteRange, error) {
	switch {
	case rt.From > rt.To:
		return rt, fieldError("reverse_tracing", ErrReverseTracing, "from %v is after to %v", rt.From, rt.To)
	case rt.To < from:
		return rt, fieldError("reverse_tracing.to", ErrReverseTracing, "%v is before the window's start %v", rt.To, from)
	case rt.From > to:
		return rt, fieldError("reverse_tracing.from", ErrReverseTracing, "%v is after the window's end %v", rt.From, to)
	}
	lo, hi := max(rt.From, from), min(rt.To, to)
	if lo > from && lo != lo.HourStart() {
		lo = lo.HourStart() + pact.MinutesPerHour
	}
	if hi < to && hi%pact.MinutesPerHour != pact.MinutesPerHour-1 {
		if hi < pact.MinutesPerHour {
			return rt, fieldError("reverse_tracing", ErrReverseTracing, "%v..%v covers no whole hour of the window", rt.From, rt.To)
		}
		hi = hi.HourStart() - 1
	}
	if lo > hi {
		return rt, fieldError("reverse_tracing", ErrReverseTracing, "%v..%v covers no whole hour of the window", rt.From, rt.To)
	}
	return exposureclient.MinuteRange{From: lo, To: hi}, nil
}

// Result is the outcome of Submit.
type Result struct {
	// ShareID identifies the recorded attempt (Tracker.Status).
	ShareID int64
	// Status is one of devicedb's share statuses: pending when the
	// server stored the upload, refused, or unanswered.
	Status string
	// Code, Field and Message are the server's reasons for a refusal.
	Code, Field, Message string
	Preview
}

// Submit validates r, builds the upload and sends it. It records the
// attempt in the device database first, with what it sends but nothing of
// the permission number. A refusal returns a Result with Status refused
// and an error that matches exposureclient.ErrRefused and the sentinel of
// its code; no answer returns Status unanswered and an error matching
// exposureclient.ErrUnreachable or ErrBadAnswer. Neither changes the seed
// log, and the owner may submit again.
func (s *Service) Submit(ctx context.Context, r Request) (Result, error) {
	p, err := s.plan(ctx, r, true)
	if err != nil {
		return Result{}, err
	}
	reuse, err := s.replacements(ctx)
	if err != nil {
		return Result{}, err
	}
	tuples, err := s.seeds.Bundle(ctx, p.bundle)
	if err != nil {
		return Result{}, fmt.Errorf("share: building the bundle: %w", err)
	}
	entries := make([]devicedb.ShareEntry, 0, len(tuples)+p.FindMyKeys)
	for i, t := range tuples {
		redacted := p.excluded[t.Start.HourStart()]
		if redacted {
			// Bundle drew a fresh seed; an earlier upload's fresh seed for
			// the same tuple is sent again instead, if there is one.
			if v, ok := reuse[entryKey{devicedb.ShareEntrySeed, t.Start}]; ok && len(v) == pact.SeedSize {
				tuples[i].Seed = pact.Seed(v)
				t = tuples[i]
			}
		}
		entries = append(entries, devicedb.ShareEntry{Kind: devicedb.ShareEntrySeed, Value: t.Seed[:], Start: t.Start, End: t.End, Redacted: redacted})
	}
	var keys []exposureclient.FindMyKey
	for _, d := range p.devices {
		ks, err := d.derive(p.Region)
		if err != nil {
			return Result{}, err
		}
		for _, k := range ks {
			keys = append(keys, k.FindMyKey)
			entries = append(entries, devicedb.ShareEntry{Kind: devicedb.ShareEntryFindMy, Value: k.Key[:], Start: k.Start, End: k.End, Redacted: k.redacted})
		}
	}
	now := s.clock.Now()
	rec := devicedb.Share{
		Created: now, Server: p.server.Name, Region: p.Region, Tuples: len(tuples), Redacted: p.Excluded,
		FindMyKeys: len(keys), Status: devicedb.ShareSending,
	}
	if rt := p.ReverseTracing; rt != nil {
		rec.Reverse, rec.ReverseFrom, rec.ReverseTo = true, rt.From, rt.To
	}
	id, err := s.db.AddShare(ctx, rec, entries)
	if err != nil {
		return Result{}, fmt.Errorf("share: %w", err)
	}
	res := Result{ShareID: id, Preview: p.Preview}
	up := exposureclient.Upload{
		PermissionNumber: string(p.number), Region: p.Region, Tuples: tuples,
		ReverseTracing: p.ReverseTracing, FindMyKeys: keys,
	}
	answer, upErr := exposureclient.SendUpload(ctx, s.http, p.server.URL, up)
	var refused *exposureclient.RefusedError
	switch {
	case upErr == nil:
		res.Status = devicedb.SharePending
	case errors.As(upErr, &refused):
		res.Status = devicedb.ShareRefused
		res.Code, res.Field, res.Message = answer.Code, answer.Field, answer.Message
	default:
		res.Status = devicedb.ShareUnanswered
		res.Message = upErr.Error()
	}
	// Recorded even when the caller has gone away: the upload is out.
	if err := s.db.SetShareOutcome(context.WithoutCancel(ctx), id, res.Status, res.Code, res.Field, res.Message, s.clock.Now()); err != nil {
		return res, errors.Join(upErr, fmt.Errorf("share: %w", err))
	}
	s.log.Info("share uploaded", "share", id, "server", p.server.Name, "region", p.Region, "status", res.Status,
		"code", res.Code, "tuples", len(tuples), "redacted", p.Excluded, "findmy_keys", len(keys))
	if upErr != nil {
		return res, fmt.Errorf("share %d to %s: %w", id, p.server.Name, upErr)
	}
	return res, nil
}

// entryKey names an entry of a share by kind and first minute: a redacted
// hour's tuple starts at the same minute in every upload that covers it,
// and so does a Find My key.
type entryKey struct {
	kind  string
	start pact.Minute
}

// replacements returns the fresh values earlier shares that may have
// reached a server sent for redacted entries, the latest for each.
func (s *Service) replacements(ctx context.Context) (map[entryKey][]byte, error) {
	es, err := s.db.RedactedShareEntries(ctx)
	if err != nil {
		return nil, fmt.Errorf("share: %w", err)
	}
	out := make(map[entryKey][]byte, len(es))
	for _, e := range es {
		out[entryKey{e.Kind, e.Start}] = e.Value
	}
	return out, nil
}
