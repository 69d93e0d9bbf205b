package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pact-findmy/pact-findmy/exposureclient"
	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/devicedb"
	"github.com/pact-findmy/pact-findmy/internal/harvest"
	"github.com/pact-findmy/pact-findmy/internal/share"
	"github.com/pact-findmy/pact-findmy/pact"
	"github.com/pact-findmy/pact-findmy/web"
)

// The node is the dashboard's backend.
var _ web.Backend = (*Node)(nil)

func (n *Node) setAdapter(a web.Adapter) {
	n.mu.Lock()
	n.adapter = a
	n.mu.Unlock()
}

// Status implements web.Backend.
func (n *Node) Status(ctx context.Context) (web.Status, error) {
	st, err := n.stats.Status(ctx)
	if err != nil {
		return st, err
	}
	n.mu.Lock()
	syncer, chirper, adapter := n.syncer, n.chirper, n.adapter
	n.mu.Unlock()
	st.Adapter = adapter
	if snoozed, until := n.seeds.Snoozed(); snoozed {
		st.SnoozedUntil = until
	}
	// Only a chirper on an adapter puts chirps on the air.
	st.Chirping = chirper != nil && chirper.State().Chirping
	if syncer != nil {
		servers, err := syncer.Status(ctx)
		if err != nil {
			return st, err
		}
		for _, s := range servers {
			refused := 0
			for _, r := range s.Refused {
				if !r.Applied {
					refused++
				}
			}
			st.Servers = append(st.Servers, web.ServerStatus{Name: s.Name, URL: s.URL, LastSync: s.LastSuccess, LastError: s.LastError, RefusedBatches: refused})
		}
	}
	return st, nil
}

// Harvester implements web.Backend.
func (n *Node) Harvester(ctx context.Context) (web.Harvester, error) {
	n.mu.Lock()
	p, adapter := n.listener, n.adapter
	n.mu.Unlock()
	h := web.Harvester{Now: n.clock.Now(), Adapter: adapter}
	if p == nil {
		return h, nil
	}
	snap := p.Snapshot()
	h.Running = snap.Running
	for k := harvest.Kind(0); k < harvest.NumKinds; k++ {
		h.Kinds = append(h.Kinds, web.FrameRate{Kind: k.String(), PerSecond: snap.Rates[k], Total: int64(snap.Counts[k])})
	}
	h.InvalidKeys = int64(snap.Counts[harvest.KindFindMyInvalid])
	h.MalformedFrames = int64(snap.Counts[harvest.KindMalformed] + snap.FrameErrors)
	return h, nil
}

// Exposures implements web.Backend.
func (n *Node) Exposures(ctx context.Context, day time.Time) (web.Exposures, error) {
	return n.stats.Exposures(ctx, day)
}

// ContactLog implements web.Backend.
func (n *Node) ContactLog(ctx context.Context) (web.ContactLog, error) {
	return n.stats.ContactLog(ctx)
}

// Settings implements web.Backend.
func (n *Node) Settings(ctx context.Context) (web.Settings, error) {
	return n.stats.Settings(ctx)
}

// SaveSettings implements web.Backend: it checks that the servers can be
// used before anything is stored, stores, then applies the snooze at once.
// Retention applies to the next erasure (hourly); the minimum RSSI to the
// next start of listening.
func (n *Node) SaveSettings(ctx context.Context, s web.Settings) error {
	old, err := n.stats.Settings(ctx)
	if err != nil {
		return err
	}
	if err := n.configure(s); err != nil {
		return &web.FieldError{Field: "servers", Message: err.Error()}
	}
	if err := n.stats.SaveSettings(ctx, s); err != nil {
		if rerr := n.configure(old); rerr != nil {
			n.log.Error("restoring the servers after a failed save", "err", rerr)
		}
		return err
	}
	n.seeds.Snooze(s.SnoozeUntil)
	return nil
}

// sharer returns the share service, or a field error when no server is
// configured to share with.
func (n *Node) shareService() (*share.Service, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sharer == nil {
		return nil, &web.FieldError{Field: "permission_number", Message: "No exposure server is configured: add one in the settings before sharing."}
	}
	return n.sharer, nil
}

// shareRequest turns the dashboard's request into the share flow's.
func (n *Node) shareRequest(r web.ShareRequest) (share.Request, error) {
	req := share.Request{PermissionNumber: r.PermissionNumber, Region: n.cfg.Region}
	for _, h := range r.ExcludeHours {
		req.Exclude = append(req.Exclude, pact.MinuteOf(h))
	}
	if r.ReverseTracing {
		req.ReverseTracing = &exposureclient.MinuteRange{From: pact.MinuteOf(r.ReverseFrom), To: pact.MinuteOf(r.ReverseTo)}
	}
	devices, err := ParseKeyMaterial(r.FindMyKeyMaterial)
	if err != nil {
		return req, &web.FieldError{Field: "findmy_key_material", Message: err.Error()}
	}
	req.FindMy = devices
	return req, nil
}

// SharePreview implements web.Backend; it sends nothing.
func (n *Node) SharePreview(ctx context.Context, r web.ShareRequest) (web.SharePreview, error) {
	svc, err := n.shareService()
	if err != nil {
		return web.SharePreview{}, err
	}
	req, err := n.shareRequest(r)
	if err != nil {
		return web.SharePreview{}, err
	}
	p, err := svc.Preview(ctx, req)
	if err != nil {
		return web.SharePreview{}, webFieldError(err)
	}
	return previewView(p), nil
}

func previewView(p share.Preview) web.SharePreview {
	v := web.SharePreview{FindMyKeys: p.FindMyKeys}
	for _, h := range p.Hours {
		v.Hours = append(v.Hours, web.ShareHour{Hour: h.Hour.Time(), Excluded: h.Excluded})
	}
	if p.ReverseTracing != nil {
		v.ReverseFrom, v.ReverseTo = p.ReverseTracing.From.Time(), p.ReverseTracing.To.Time()
	}
	return v
}

// ShareSubmit implements web.Backend: the owner confirmed.
func (n *Node) ShareSubmit(ctx context.Context, r web.ShareRequest) (web.ShareResult, error) {
	svc, err := n.shareService()
	if err != nil {
		return web.ShareResult{}, err
	}
	req, err := n.shareRequest(r)
	if err != nil {
		return web.ShareResult{}, err
	}
	res, err := svc.Submit(ctx, req)
	var fe *share.FieldError
	if errors.As(err, &fe) {
		return web.ShareResult{}, webFieldError(err)
	}
	out := web.ShareResult{Tuples: len(res.Hours), FindMyKeys: res.FindMyKeys}
	switch {
	case err == nil && res.Status == devicedb.SharePending:
		out.Accepted = true
		out.Answer = fmt.Sprintf("Stored by %s: %d seed-hours and %d Find My keys. The node checks that they appear in the next signed batch.",
			res.Server, len(res.Hours), res.FindMyKeys)
	case res.ShareID == 0 && err != nil:
		// Nothing was sent: a local failure.
		return web.ShareResult{}, err
	default:
		out.Retry = true
		out.Reason = refusalInWords(res, err)
		out.Answer = "Not stored. Your seed log is unchanged; you can try again."
	}
	return out, nil
}

// refusalInWords says why a share was refused, in the owner's words.
func refusalInWords(res share.Result, err error) string {
	switch {
	case errors.Is(err, exposureclient.ErrPermissionUsed):
		return "This permission number has already been used. Ask your health authority for a new one."
	case errors.Is(err, exposureclient.ErrPermissionUnknown):
		return "The server does not know this permission number. Check it for typing mistakes."
	case errors.Is(err, exposureclient.ErrPermissionExpired):
		return "This permission number has expired. Ask your health authority for a new one."
	case errors.Is(err, exposureclient.ErrPermissionRevoked):
		return "This permission number was revoked by the health authority."
	case errors.Is(err, exposureclient.ErrRateLimited):
		return "Too many refused numbers came from this network. Wait an hour, then try again."
	case errors.Is(err, exposureclient.ErrUnreachable):
		return "The exposure server could not be reached, or did not answer. The upload may or may not have arrived; trying again is safe."
	case errors.Is(err, exposureclient.ErrUnavailable):
		return "The exposure server could not store the upload right now. Try again later."
	case res.Message != "":
		return "The server refused the upload: " + res.Message
	case err != nil:
		return "The upload failed: " + err.Error()
	}
	return "The server did not store the upload."
}

// webFieldError turns the share flow's field errors into the dashboard's.
func webFieldError(err error) error {
	var fe *share.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	field := fe.Field
	switch {
	case strings.HasPrefix(field, "exclude"), field == "window":
		field = "exclude"
	case field == "reverse_tracing.to":
		field = "reverse_to"
	case strings.HasPrefix(field, "reverse_tracing"):
		field = "reverse_from"
	case strings.HasPrefix(field, "findmy"):
		field = "findmy_key_material"
	case field == "server", field == "region":
		field = "permission_number"
	}
	return &web.FieldError{Field: field, Message: fe.Error()}
}

// ParseKeyMaterial reads the owner's Find My accessories from the share
// form, one per line:
//
//	NAME SK0 D0 PAIRED [SKS0]
//
// SK0 is the accessory's 32-byte pairing secret, D0 its 28-byte private
// key and SKS0, optional, its 32-byte secondary secret, all in hex, and
// PAIRED the RFC 3339 time its key 0 became current, whose UTC offset
// places the secondary keys' 04:00 rollover (findmy §5, §9). The private
// key is needed because every uploaded key carries a proof of possession
// signed by it (findmy §8); a public key P0 in its place is refused with
// a message that says so. Blank lines and lines starting with # are
// skipped. The material stays on the device: the share flow derives the
// window's keys from it and uploads only those.
func ParseKeyMaterial(s string) ([]share.FindMyDevice, error) {
	var out []share.FindMyDevice
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 && len(f) != 5 {
			return nil, fmt.Errorf("line %d: want NAME SK0 D0 PAIRED [SKS0] (4 or 5 fields), got %d: %w", i+1, len(f), ErrKeyMaterial)
		}
		// A SEC 1 public key is 29 or 57 bytes: 58 or 114 hex digits.
		if n := len(f[2]); n == 2*findmy.CompressedSize || n == 2*findmy.UncompressedSize {
			return nil, fmt.Errorf("line %d: the third field is a public key P0; proofs of possession need the private key D0 (28 bytes, 56 hex digits): %w", i+1, ErrKeyMaterial)
		}
		epoch, err := time.Parse(time.RFC3339, f[3])
		if err != nil {
			return nil, fmt.Errorf("line %d: pairing time %q: want RFC 3339, such as 2026-01-02T15:04:05+01:00: %w", i+1, f[3], ErrKeyMaterial)
		}
		d := share.FindMyDevice{Name: f[0], Secret: f[1], PrivateKey: f[2], Epoch: epoch}
		if len(f) == 5 {
			d.SecondarySecret = f[4]
		}
		out = append(out, d)
	}
	return out, nil
}

// ErrKeyMaterial is Find My key material that does not read as
// ParseKeyMaterial's lines.
var ErrKeyMaterial = errors.New("key material is not NAME SK0 D0 PAIRED [SKS0]")
