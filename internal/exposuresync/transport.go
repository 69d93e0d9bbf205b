package exposuresync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/proxy"
)

// Errors of the transport, for errors.Is.
var (
	// ErrHostNotAllowed: a connection to an address that is not one of the
	// configured exposure servers was refused before it was opened.
	ErrHostNotAllowed = errors.New("connection refused: not a configured exposure server")
	// ErrProxyURL: the proxy is not a socks5://host:port URL.
	ErrProxyURL = errors.New("proxy URL is not socks5://[user:password@]host:port")
	// ErrServerURL: a server URL is not an absolute http:// or https:// URL.
	ErrServerURL = errors.New("exposure server URL is not http(s)://host[:port][/path]")
)

// NewHTTPClient returns the client the node fetches batches with (issue 8,
// "Privacy" and "Anonymous transport"). It opens no connection except to
// the host:port of the servers given: any other address, whether asked
// for directly or by a redirect, fails with ErrHostNotAllowed before a
// connection is attempted. The environment's HTTP_PROXY is ignored.
//
// With proxyURL ("socks5://host:port", or "socks5h://", optionally with
// user:password for Tor's stream isolation) every connection goes through
// that SOCKS5 proxy, and server host names are sent to the proxy
// unresolved, so the node makes no DNS query of its own and the servers
// see the proxy's address, not the node's (PACT v0.1 suggests this for
// uploads). Without a proxy, a server named by host name is resolved by
// the system resolver.
func NewHTTPClient(proxyURL string, servers []Server) (*http.Client, error) {
	allowed := make(map[string]bool, len(servers))
	for _, s := range servers {
		addr, err := serverAddress(s.URL)
		if err != nil {
			return nil, fmt.Errorf("exposure server %q: %w", s.Name, err)
		}
		allowed[addr] = true
	}
	direct := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	forward := direct.DialContext
	if proxyURL != "" {
		p, err := parseProxyURL(proxyURL)
		if err != nil {
			return nil, err
		}
		d, err := proxy.SOCKS5("tcp", p.addr, p.auth, direct)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: %w", p.addr, err)
		}
		cd, ok := d.(proxy.ContextDialer)
		if !ok {
			return nil, fmt.Errorf("proxy %s: the SOCKS5 dialer cannot be cancelled", p.addr)
		}
		forward = cd.DialContext
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		key, err := normalizeAddress(addr)
		if err != nil || !allowed[key] {
			return nil, fmt.Errorf("dialing %s %s: %w", network, addr, ErrHostNotAllowed)
		}
		return forward(ctx, network, addr)
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
	}
	return &http.Client{Transport: tr}, nil
}

// serverAddress returns the host:port a server URL connects to, in the
// form normalizeAddress gives.
func serverAddress(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrServerURL, raw, err)
	}
	port := u.Port()
	switch {
	case u.Scheme == "http" && port == "":
		port = "80"
	case u.Scheme == "https" && port == "":
		port = "443"
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%w: %q has scheme %q", ErrServerURL, raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("%w: %q has no host", ErrServerURL, raw)
	}
	return normalizeAddress(net.JoinHostPort(u.Hostname(), port))
}

// normalizeAddress lower-cases the host of host:port and checks the port,
// so that an address and the server it names compare equal.
func normalizeAddress(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || host == "" {
		return "", fmt.Errorf("address %q: want host:port with a port in 1..65535", addr)
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.FormatUint(n, 10)), nil
}

type proxyConfig struct {
	addr string
	auth *proxy.Auth
}

// parseProxyURL reads socks5://[user[:password]@]host:port. socks5h is
// accepted as a synonym: names are always resolved by the proxy.
func parseProxyURL(raw string) (proxyConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return proxyConfig{}, fmt.Errorf("%w: %q: %w", ErrProxyURL, raw, err)
	}
	if u.Scheme != "socks5" && u.Scheme != "socks5h" {
		return proxyConfig{}, fmt.Errorf("%w: %q has scheme %q", ErrProxyURL, raw, u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return proxyConfig{}, fmt.Errorf("%w: %q has more than a host and port", ErrProxyURL, raw)
	}
	if u.Port() == "" {
		return proxyConfig{}, fmt.Errorf("%w: %q has no port", ErrProxyURL, raw)
	}
	addr, err := normalizeAddress(u.Host)
	if err != nil {
		return proxyConfig{}, fmt.Errorf("%w: %q: %w", ErrProxyURL, raw, err)
	}
	p := proxyConfig{addr: addr}
	if u.User != nil {
		pw, _ := u.User.Password()
		name := u.User.Username()
		// RFC 1929 carries each in one length byte.
		if len(name) == 0 || len(name) > 255 || len(pw) > 255 {
			return proxyConfig{}, fmt.Errorf("%w: %q: user name and password must be 1..255 and 0..255 bytes", ErrProxyURL, raw)
		}
		p.auth = &proxy.Auth{User: name, Password: pw}
	}
	return p, nil
}
