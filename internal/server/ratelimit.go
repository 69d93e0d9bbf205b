package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"
)

// guessLimiter counts refused permission numbers per client network. The
// address is never stored: the key is HMAC(process-random key, address),
// truncated, and lives only in memory, so neither a heap dump after restart
// nor the database can list who uploaded.
type guessLimiter struct {
	key       [32]byte
	perHour   float64
	mu        sync.Mutex
	buckets   map[[16]byte]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newGuessLimiter(perHour int) *guessLimiter {
	l := &guessLimiter{perHour: float64(perHour), buckets: make(map[[16]byte]*bucket)}
	rand.Read(l.key[:])
	return l
}

func (l *guessLimiter) id(addr string) [16]byte {
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

func (l *guessLimiter) refill(b *bucket, now time.Time) {
	b.tokens = min(l.perHour, b.tokens+now.Sub(b.last).Hours()*l.perHour)
	b.last = now
}

// take charges addr one guess before its number is tried, and reports
// whether it had one left. Charging up front, rather than after a refusal,
// stops a client from trying many numbers at once before the first
// refusal counts, and from making the server expand Find My schedules for
// numbers that turn out unknown. The caller refunds a guess that was not
// a refused number.
func (l *guessLimiter) take(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.id(addr)
	b, ok := l.buckets[id]
	if !ok {
		b = &bucket{tokens: l.perHour, last: now}
		l.buckets[id] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	// Full buckets carry no information; dropping them bounds memory.
	if now.Sub(l.lastSweep) > time.Minute {
		l.lastSweep = now
		for k, b := range l.buckets {
			if l.refill(b, now); b.tokens >= l.perHour {
				delete(l.buckets, k)
			}
		}
	}
	return true
}

// refund gives back the guess take charged, for an attempt that did not
// end in a refused number.
func (l *guessLimiter) refund(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[l.id(addr)]; ok {
		l.refill(b, now)
		b.tokens = min(l.perHour, b.tokens+1)
	}
}
