package exposuresync

import (
	"net"
	"strconv"
	"testing"
)

// FuzzParseProxyURL checks that the proxy URL parser never panics and that
// what it accepts is a host:port that reads back the same: the address
// dialed is the address the owner wrote.
func FuzzParseProxyURL(f *testing.F) {
	for _, s := range []string{
		"socks5://127.0.0.1:9050", "socks5h://localhost:1080", "socks5://user:pw@[::1]:1080",
		"socks5://tor:9050/", "http://127.0.0.1:8080", "socks5://host", "socks5://:1080", "socks5://h:99999",
		"socks5://%zz:1", "socks5://a@b@c:1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseProxyURL(raw)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(p.addr)
		if err != nil || host == "" {
			t.Fatalf("%q accepted as address %q, which is not host:port", raw, p.addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			t.Fatalf("%q accepted with port %q", raw, port)
		}
		again, err := normalizeAddress(p.addr)
		if err != nil || again != p.addr {
			t.Fatalf("%q: address %q normalizes to %q, %v", raw, p.addr, again, err)
		}
		if p.auth != nil && (p.auth.User == "" || len(p.auth.User) > 255 || len(p.auth.Password) > 255) {
			t.Fatalf("%q accepted with credentials SOCKS5 cannot carry: %d-byte user, %d-byte password", raw, len(p.auth.User), len(p.auth.Password))
		}
	})
}

// FuzzServerAddress checks that a server URL and the address the HTTP
// transport dials for it compare equal, so that the restricted dialer lets
// through exactly the configured servers.
func FuzzServerAddress(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:8080", "https://Exposure.Example/pact/", "http://[::1]/", "https://h:443", "http://h:0",
		"ftp://h", "http:///x", "http://h:65536",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		addr, err := serverAddress(raw)
		if err != nil {
			return
		}
		if again, err := normalizeAddress(addr); err != nil || again != addr {
			t.Fatalf("%q: address %q normalizes to %q, %v", raw, addr, again, err)
		}
	})
}
