// Package exposureclient downloads exposure batches from a pact-server or
// from a static mirror of one (docs/api.md, "Downloads"), verifies their
// Ed25519 signatures and refuses any batch that was tampered with,
// truncated, reordered or replayed.
//
// A Client keeps, per region, the last sequence it accepted; Sync fetches
// only newer batches, in order, and fails rather than skipping a batch.
// Fetching every region (Sync with no region filter) hides the client's own
// region from the server.
package exposureclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/pact-findmy/pact-findmy/findmy"
	"github.com/pact-findmy/pact-findmy/internal/batch"
	"github.com/pact-findmy/pact-findmy/pact"
)

// Errors a caller can test with errors.Is.
var (
	// ErrTampered: the signature does not verify, or the bytes do not
	// match the digest the listing announced.
	ErrTampered = errors.New("batch was tampered with")
	// ErrTruncated: the batch is shorter or longer than it says.
	ErrTruncated = errors.New("batch is truncated")
	// ErrReordered: entries are not in the canonical order.
	ErrReordered = errors.New("batch entries are reordered")
	// ErrReplayed: the server sent a batch other than the one asked for,
	// or one at or below a sequence already accepted.
	ErrReplayed = errors.New("batch is replayed")
	// ErrGap: the listing skips a sequence number.
	ErrGap = errors.New("batch sequence has a gap")
)

// MaxBatchBytes bounds one download.
const MaxBatchBytes = 1 << 30

// errTooLong is a response body over the limit get was given.
var errTooLong = errors.New("body exceeds the limit")

// Batch is a verified batch.
type Batch struct {
	ID            string
	Region        string
	Sequence      uint64
	PeriodStart   pact.Minute
	PeriodMinutes uint32
	// Uploads is the upload count of a version 1 batch; version 2 batches
	// do not publish it (docs/api.md, "Holding and chaff") and read 0.
	Uploads uint32
	// Tuples are sorted by seed.
	Tuples []pact.Tuple
	// Reverse is nil, or parallel to Tuples: Reverse[i] says tuple i lies
	// inside its uploader's reverse-tracing range (spec §9.2). It is nil
	// when no tuple is marked.
	Reverse []bool
	// FindMy are diagnosed owners' advertised Find My keys, sorted by key:
	// chirps that match a contact-log sighting of Source findmy inside
	// their window.
	FindMy []FindMyKey
}

// FindMyKey is one advertised Find My key and the minutes it was current.
type FindMyKey struct {
	Key        findmy.Key
	Start, End pact.Minute
	// Reverse says the window lies inside the uploader's reverse-tracing
	// range (spec §9.2).
	Reverse bool
	// Secondary marks a secondary (daily) key (docs/findmy.md).
	Secondary bool
	// Proof is the key's proof of possession (docs/findmy.md); all zero
	// from a version 1 batch.
	Proof [batch.FindMyProofSize]byte
}

// Ref is a listing entry.
type Ref = batch.Ref

// Client talks to one server. It is safe for concurrent use.
type Client struct {
	base *url.URL
	key  ed25519.PublicKey
	http *http.Client

	mu   sync.Mutex
	last map[string]uint64
}

// New returns a client for the server at baseURL that trusts only batches
// signed by key. hc may be nil for http.DefaultClient.
func New(baseURL string, key ed25519.PublicKey, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("exposure server URL %q: want http:// or https://", baseURL)
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("batch key has %d bytes, want %d", len(key), ed25519.PublicKeySize)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: u, key: key, http: hc, last: make(map[string]uint64)}, nil
}

// FetchPublicKey reads the key the server publishes. Trusting it is trust
// on first use; a deployment should pin the key it got out of band and
// pass it to New instead.
func FetchPublicKey(ctx context.Context, baseURL string, hc *http.Client) (ed25519.PublicKey, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	body, err := get(ctx, hc, strings.TrimSuffix(baseURL, "/")+"/.well-known/pact/batch-key", 1<<12)
	if err != nil {
		return nil, err
	}
	var k struct {
		Algorithm string `json:"algorithm"`
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal(body, &k); err != nil {
		return nil, fmt.Errorf("batch key: %w", err)
	}
	if k.Algorithm != "Ed25519" {
		return nil, fmt.Errorf("batch key algorithm %q: want Ed25519", k.Algorithm)
	}
	pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("batch key %q: not a base64 Ed25519 public key", k.PublicKey)
	}
	return pub, nil
}

func get(ctx context.Context, hc *http.Client, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: status %s: %s", u, resp.Status, bytes.TrimSpace(msg))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: %w of %d bytes", u, errTooLong, limit)
	}
	return body, nil
}

func (c *Client) url(path string) string { return c.base.String() + path }

// List returns the listing of region after sequence after, or of every
// region when region is "".
func (c *Client) List(ctx context.Context, region string, after uint64) ([]Ref, error) {
	var u string
	if region == "" {
		u = c.url("/v1/all/batches")
	} else {
		if err := batch.ValidRegion(region); err != nil {
			return nil, err
		}
		u = c.url("/v1/regions/" + region + "/batches?after=" + strconv.FormatUint(after, 10))
	}
	body, err := get(ctx, c.http, u, 64<<20)
	if err != nil {
		return nil, err
	}
	var l batch.Listing
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("listing %s: %w", u, err)
	}
	return l.Batches, nil
}

// Fetch downloads the batch ref names and verifies it against the key and
// against ref itself (region, sequence, digest).
func (c *Client) Fetch(ctx context.Context, ref Ref) (*Batch, error) {
	if err := batch.ValidRegion(ref.Region); err != nil {
		return nil, fmt.Errorf("listing entry %q: %w", ref.ID, err)
	}
	id := ref.Region + "." + strconv.FormatUint(ref.Sequence, 10)
	// Read no more than the listing announced, so a hostile mirror cannot
	// make the client hold a gigabyte to find out the batch is wrong.
	limit := int64(MaxBatchBytes)
	if ref.Size > 0 && int64(ref.Size) < limit {
		limit = int64(ref.Size)
	}
	data, err := get(ctx, c.http, c.url("/v1/batches/"+id), limit)
	if errors.Is(err, errTooLong) {
		return nil, fmt.Errorf("batch %s: %w: longer than the %d bytes its listing gives: %w", id, ErrTruncated, limit, err)
	}
	if err != nil {
		return nil, err
	}
	return c.Verify(data, ref)
}

// Verify checks data as the batch ref names: signature, canonical form,
// and that it is the batch asked for, not another validly signed one.
func (c *Client) Verify(data []byte, ref Ref) (*Batch, error) {
	id := ref.Region + "." + strconv.FormatUint(ref.Sequence, 10)
	b, err := batch.Decode(data, c.key)
	switch {
	case errors.Is(err, batch.ErrTruncated):
		return nil, fmt.Errorf("batch %s: %w: %w", id, ErrTruncated, err)
	case errors.Is(err, batch.ErrOrder):
		return nil, fmt.Errorf("batch %s: %w: %w", id, ErrReordered, err)
	case errors.Is(err, batch.ErrSignature), errors.Is(err, batch.ErrKey):
		return nil, fmt.Errorf("batch %s: %w: %w", id, ErrTampered, err)
	case err != nil:
		return nil, fmt.Errorf("batch %s: %w: %w", id, ErrTampered, err)
	}
	if b.Region != ref.Region || b.Sequence != ref.Sequence {
		return nil, fmt.Errorf("batch %s: %w: the server sent %s.%d", id, ErrReplayed, b.Region, b.Sequence)
	}
	if ref.SHA256 != "" {
		sum := sha256.Sum256(data)
		if !strings.EqualFold(ref.SHA256, hex.EncodeToString(sum[:])) {
			return nil, fmt.Errorf("batch %s: %w: digest %x does not match the listing's %s", id, ErrTampered, sum, ref.SHA256)
		}
	}
	fm := make([]FindMyKey, len(b.FindMy))
	for i, k := range b.FindMy {
		fm[i] = FindMyKey{Key: k.Key, Start: k.Start, End: k.End, Reverse: k.Reverse, Secondary: k.Secondary, Proof: k.Proof}
	}
	return &Batch{
		ID: id, Region: b.Region, Sequence: b.Sequence, PeriodStart: b.PeriodStart,
		PeriodMinutes: b.PeriodMinutes, Uploads: b.Uploads, Tuples: b.Tuples, Reverse: b.Reverse, FindMy: fm,
	}, nil
}

// SetLast records that batches of region up to seq were already accepted,
// for example from a previous run's saved state.
func (c *Client) SetLast(region string, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last[region] = seq
}

// Last returns the last accepted sequence of every region seen.
func (c *Client) Last() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.last))
	for k, v := range c.last {
		out[k] = v
	}
	return out
}

// Sync fetches every batch newer than the last accepted one of each
// region (every region when regions is empty), in sequence order, and
// calls accept for each. A batch is recorded as accepted only when accept
// returns nil; the first error stops the sync.
func (c *Client) Sync(ctx context.Context, regions []string, accept func(*Batch) error) error {
	var refs []Ref
	if len(regions) == 0 {
		all, err := c.List(ctx, "", 0)
		if err != nil {
			return err
		}
		refs = all
	} else {
		for _, r := range regions {
			list, err := c.List(ctx, r, c.Last()[r])
			if err != nil {
				return err
			}
			refs = append(refs, list...)
		}
	}
	// The first new batch of a region may lie beyond last+1 when retention
	// deleted the ones in between; within one listing, numbers must be
	// consecutive, or a batch is being withheld.
	prev := make(map[string]uint64)
	for _, ref := range refs {
		c.mu.Lock()
		last := c.last[ref.Region]
		c.mu.Unlock()
		if ref.Sequence <= last {
			continue // already accepted; a static mirror lists everything
		}
		if p, ok := prev[ref.Region]; ok && ref.Sequence != p+1 {
			return fmt.Errorf("region %s: %w: batch %d follows %d in the listing", ref.Region, ErrGap, ref.Sequence, p)
		}
		prev[ref.Region] = ref.Sequence
		b, err := c.Fetch(ctx, ref)
		if err != nil {
			return err
		}
		if err := c.accept(b, accept); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) accept(b *Batch, accept func(*Batch) error) error {
	c.mu.Lock()
	last := c.last[b.Region]
	c.mu.Unlock()
	if b.Sequence <= last {
		return fmt.Errorf("batch %s: %w: sequence %d is not after %d", b.ID, ErrReplayed, b.Sequence, last)
	}
	if err := accept(b); err != nil {
		return fmt.Errorf("batch %s: %w", b.ID, err)
	}
	c.SetLast(b.Region, b.Sequence)
	return nil
}
