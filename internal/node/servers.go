package node

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/pact-findmy/pact-findmy/internal/exposuresync"
)

// ErrServerSpec is wrapped by every error of ParseServer.
var ErrServerSpec = errors.New("bad exposure server")

// regionName is the server's region syntax (docs/api.md, "Upload").
var regionName = regexp.MustCompile(`^[A-Za-z0-9-]{1,32}$`)

// ParseServer reads one exposure server as given on the command line:
//
//	URL,key=BASE64[,regions=CH+DE][,name=NAME]
//
// key is the server's Ed25519 batch key in standard base64, as
// /.well-known/pact/batch-key publishes it, pinned out of band; regions
// are the regions to download ("+"-separated; none means every region,
// which hides the device's own region from the server); name defaults to
// the URL's host.
func ParseServer(spec string) (exposuresync.Server, error) {
	fail := func(format string, args ...any) (exposuresync.Server, error) {
		return exposuresync.Server{}, fmt.Errorf("%w %q: %s", ErrServerSpec, spec, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(spec, ",")
	u, err := url.Parse(parts[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fail("want an http or https URL without credentials, query or fragment first")
	}
	s := exposuresync.Server{URL: strings.TrimSuffix(u.String(), "/"), Name: u.Host}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok || seen[k] {
			return fail("want key=VALUE fields, each at most once, after the URL; got %q", p)
		}
		seen[k] = true
		switch k {
		case "key":
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(b) != ed25519.PublicKeySize {
				return fail("key: want the %d-byte Ed25519 key in standard base64", ed25519.PublicKeySize)
			}
			s.Key = ed25519.PublicKey(b)
		case "regions":
			for _, r := range strings.Split(v, "+") {
				if !regionName.MatchString(r) {
					return fail("regions: %q is not a region (1-32 of A-Z a-z 0-9 -)", r)
				}
				s.Regions = append(s.Regions, r)
			}
		case "name":
			if v == "" || strings.ContainsAny(v, " \t\n") {
				return fail("name: want a word")
			}
			s.Name = v
		default:
			return fail("unknown field %q: want key, regions or name", k)
		}
	}
	if s.Key == nil {
		return fail("key= is required: batches are trusted only under a pinned key")
	}
	return s, nil
}

// FormatServer writes s in the form ParseServer reads.
func FormatServer(s exposuresync.Server) string {
	out := s.URL + ",key=" + base64.StdEncoding.EncodeToString(s.Key)
	if len(s.Regions) > 0 {
		out += ",regions=" + strings.Join(s.Regions, "+")
	}
	return out + ",name=" + s.Name
}
