package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"
)

// networkLimiter is a token bucket per client network: refused permission
// numbers per hour, Find My derivation steps per minute. The address is
// never stored: the key is HMAC(process-random key, network), truncated,
// and lives only in memory, so neither a heap dump after restart nor the
// database can list who uploaded.
type networkLimiter struct {
	key       [32]byte
	capacity  float64
	perSecond float64
	mu        sync.Mutex
	buckets   map[[16]byte]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// newNetworkLimiter gives each network capacity tokens, refilled at rate
// tokens per period.
func newNetworkLimiter(capacity, rate float64, period time.Duration) *networkLimiter {
	l := &networkLimiter{capacity: capacity, perSecond: rate / period.Seconds(), buckets: make(map[[16]byte]*bucket)}
	rand.Read(l.key[:])
	return l
}

func (l *networkLimiter) id(addr string) [16]byte {
	m := hmac.New(sha256.New, l.key[:])
	m.Write([]byte(networkOf(addr)))
	return [16]byte(m.Sum(nil))
}

// networkOf returns what one client controls: its IPv4 address, or the
// /64 of its IPv6 address, since a single host is commonly given a whole
// /64 and could otherwise draw a fresh address for every guess.
func networkOf(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if ip = ip.Unmap(); ip.Is4() {
		return ip.String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}

func (l *networkLimiter) refill(b *bucket, now time.Time) {
	b.tokens = min(l.capacity, b.tokens+now.Sub(b.last).Seconds()*l.perSecond)
	b.last = now
}

// take charges addr's network cost tokens and reports whether it had
// them. The guess limiter charges one before a number is tried rather than
// after a refusal, which stops a client from trying many numbers at once
// before the first refusal counts; the caller refunds a guess that was not
// a refused number and cost no derivation.
func (l *networkLimiter) take(addr string, now time.Time, cost float64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.id(addr)
	b, ok := l.buckets[id]
	if !ok {
		b = &bucket{tokens: l.capacity, last: now}
		l.buckets[id] = b
	}
	l.refill(b, now)
	if b.tokens < cost {
		return false
	}
	b.tokens -= cost
	// Full buckets carry no information; dropping them bounds memory.
	if now.Sub(l.lastSweep) > time.Minute {
		l.lastSweep = now
		for k, b := range l.buckets {
			if l.refill(b, now); b.tokens >= l.capacity {
				delete(l.buckets, k)
			}
		}
	}
	return true
}

// refund gives back cost tokens that take charged.
func (l *networkLimiter) refund(addr string, now time.Time, cost float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[l.id(addr)]; ok {
		l.refill(b, now)
		b.tokens = min(l.capacity, b.tokens+cost)
	}
}
