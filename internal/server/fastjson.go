package server

import (
	"encoding/hex"

	"github.com/pact-findmy/pact-findmy/pact"
)

// fastParseUpload decodes the common shape of an upload, ASCII strings
// without escapes and integer minutes, about ten times faster than
// encoding/json. It accepts a subset of what parseUploadJSONSlowly
// accepts, with the same meaning (FuzzFastParseUpload checks this); on
// anything else it reports false and the caller takes the slow path,
// which also produces the error messages.
func fastParseUpload(b []byte) (*parsedUpload, bool) {
	s := jsonScanner{b: b}
	if !s.lit('{') {
		return nil, false
	}
	p := &parsedUpload{}
	var haveNumber, haveRegion, haveTuples bool
	for first := true; ; first = false {
		if s.lit('}') {
			if first && len(b) > 0 {
				// "{}" lacks required fields: let the slow path say which.
				return nil, false
			}
			break
		}
		if !first && !s.lit(',') {
			return nil, false
		}
		key, ok := s.str()
		if !ok || !s.lit(':') {
			return nil, false
		}
		switch string(key) {
		case "permission_number":
			v, ok := s.str()
			if !ok || haveNumber {
				return nil, false
			}
			p.number, haveNumber = string(v), true
		case "region":
			v, ok := s.str()
			if !ok || haveRegion {
				return nil, false
			}
			p.region, haveRegion = string(v), true
		case "tuples":
			if haveTuples || !s.tuples(p) {
				return nil, false
			}
			haveTuples = true
		default:
			return nil, false
		}
	}
	s.ws()
	if s.i != len(b) || !haveNumber || !haveRegion || !haveTuples {
		return nil, false
	}
	return p, true
}

type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// lit consumes c after optional white space.
func (s *jsonScanner) lit(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.lit('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// minute reads a non-negative integer without sign, fraction, exponent or
// leading zero that fits a minute.
func (s *jsonScanner) minute() (pact.Minute, bool) {
	s.ws()
	start := s.i
	var v uint64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + uint64(s.b[s.i]-'0')
		s.i++
		if s.i-start > 10 {
			return 0, false
		}
	}
	n := s.i - start
	if n == 0 || (n > 1 && s.b[start] == '0') || v > uint64(^uint32(0)) {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return pact.Minute(v), true
}

func (s *jsonScanner) tuples(p *parsedUpload) bool {
	if !s.lit('[') {
		return false
	}
	p.tuples = make([]pact.Tuple, 0, 512)
	if s.lit(']') {
		return true
	}
	for {
		var t pact.Tuple
		if !s.tuple(&t) {
			return false
		}
		p.tuples = append(p.tuples, t)
		if s.lit(']') {
			return true
		}
		if !s.lit(',') {
			return false
		}
	}
}

func (s *jsonScanner) tuple(t *pact.Tuple) bool {
	if !s.lit('{') {
		return false
	}
	var seen [3]bool
	for i := 0; i < 3; i++ {
		if i > 0 && !s.lit(',') {
			return false
		}
		key, ok := s.str()
		if !ok || !s.lit(':') {
			return false
		}
		switch string(key) {
		case "seed":
			v, ok := s.str()
			if !ok || seen[0] || len(v) != 2*pact.SeedSize {
				return false
			}
			if _, err := hex.Decode(t.Seed[:], v); err != nil {
				return false
			}
			seen[0] = true
		case "start":
			if t.Start, ok = s.minute(); !ok || seen[1] {
				return false
			}
			seen[1] = true
		case "end":
			if t.End, ok = s.minute(); !ok || seen[2] {
				return false
			}
			seen[2] = true
		default:
			return false
		}
	}
	return s.lit('}')
}
