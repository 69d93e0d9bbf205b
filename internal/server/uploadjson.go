package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/pact-findmy/pact-findmy/pact"
)

// parseUploadJSON reads an upload body as docs/api.md and spec §6.2 define
// it: field names case-sensitive, each field at most once, no unknown
// field, tuples read by pact.Tuple.UnmarshalJSON, as pact.ParseTupleFile
// reads them.
//
// Most bodies take fastParseUpload, which reads only the common shape
// (ASCII strings without escapes, integer minutes) and gives up on
// anything else; parseUploadStrict reads the rest and names the field at
// fault. Both refuse what the other refuses (FuzzFastParseUpload,
// FuzzUploadAgreesWithParseTupleFile). The fast path stays because the
// strict one alone is too slow for the 500 uploads/s goal: with the
// strict decoder only, pact-server loadtest (504-tuple uploads, SQLite)
// gave 172-229 uploads/s against 457-891 with the fast path in the same
// run on a loaded machine (about 2,000 when quiet); a 504-tuple body
// takes 20 times longer to read strictly (BenchmarkParseUploadJSON,
// docs/performance.md).
func parseUploadJSON(body []byte) (*parsedUpload, *uploadError) {
	if p, ok := fastParseUpload(body); ok {
		return p, nil
	}
	return parseUploadStrict(body)
}

// parseUploadStrict decodes an upload token by token. encoding/json's
// struct decoding would match names regardless of case and keep the last
// of two equal ones, so {"seed": a, "SEED": b} or a second
// "permission_number" would be read where the spec admits neither.
func parseUploadStrict(body []byte) (*parsedUpload, *uploadError) {
	d := strictDecoder{dec: json.NewDecoder(bytes.NewReader(body))}
	d.dec.UseNumber()
	p := &parsedUpload{}
	var number, region *string
	var tuples, findMyKeys bool
	var fmKeys []findMyKeyJSON
	perr := d.object("body", func(key string) *uploadError {
		var perr *uploadError
		switch key {
		case "permission_number":
			number, perr = d.string(key)
		case "region":
			region, perr = d.string(key)
		case "tuples":
			tuples = true
			p.tuples = []pact.Tuple{}
			perr = d.array(key, func(i int) *uploadError {
				var t pact.Tuple
				if err := d.dec.Decode(&t); err != nil {
					return d.valueError(fmt.Sprintf("tuples[%d]", i), err)
				}
				p.tuples = append(p.tuples, t)
				return nil
			})
		case "reverse_tracing":
			var from, to *int64
			perr = d.object(key, func(k string) *uploadError {
				switch k {
				case "from":
					return d.int64(key+".from", &from)
				case "to":
					return d.int64(key+".to", &to)
				}
				return unknownField(key+"."+k, k)
			})
			if perr == nil && (from == nil || to == nil || *from < 0 || *to < *from || *to > int64(^uint32(0))) {
				perr = badField(key, fmt.Errorf(`want {"from": minute, "to": minute} with from <= to: %w`, ErrFieldValue))
			}
			if perr == nil {
				p.reverse = [2]pact.Minute{pact.Minute(*from), pact.Minute(*to)}
			}
		case "findmy_keys":
			findMyKeys = true
			perr = d.array(key, func(i int) *uploadError {
				if len(fmKeys) == MaxFindMyKeys {
					return badField(key, fmt.Errorf("more than %d keys: %w", MaxFindMyKeys, ErrTooMany))
				}
				field := fmt.Sprintf("%s[%d]", key, i)
				var j findMyKeyJSON
				fmKeys = append(fmKeys, j)
				jp := &fmKeys[len(fmKeys)-1]
				return d.object(field, func(k string) *uploadError {
					switch k {
					case "key":
						var perr *uploadError
						jp.Key, perr = d.string(field + ".key")
						return perr
					case "start":
						return d.int64(field+".start", &jp.Start)
					case "end":
						return d.int64(field+".end", &jp.End)
					case "secondary":
						return d.bool(field+".secondary", &jp.Secondary)
					case "proof":
						var perr *uploadError
						jp.Proof, perr = d.string(field + ".proof")
						return perr
					}
					return unknownField(field+"."+k, k)
				})
			})
		case "findmy_schedule":
			// Refused before its value is read: it would carry the
			// secrets of an accessory's whole life (docs/api.md).
			perr = badField(key, ErrScheduleRetired)
		default:
			perr = unknownField(key, key)
		}
		return perr
	})
	if perr != nil {
		return nil, perr
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, badField("body", fmt.Errorf("trailing data after the JSON object: %w", ErrMalformed))
	}
	switch {
	case number == nil:
		return nil, badField("permission_number", ErrFieldMissing)
	case region == nil:
		return nil, badField("region", ErrFieldMissing)
	case !tuples:
		return nil, badField("tuples", ErrFieldMissing)
	}
	p.number, p.region = *number, *region
	if findMyKeys {
		if p.findMy, perr = parseFindMyKeys(fmKeys); perr != nil {
			return nil, perr
		}
	}
	return p, nil
}

// strictDecoder reads JSON values token by token, naming the field of
// every refusal.
type strictDecoder struct {
	dec *json.Decoder
}

// valueError wraps an error of the JSON decoder for field: a syntax error
// is ErrMalformed, anything else (a tuple's own refusal) is kept.
func (d *strictDecoder) valueError(field string, err error) *uploadError {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return badField(field, fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	return badField(field, err)
}

func (d *strictDecoder) token(field string) (json.Token, *uploadError) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, d.valueError(field, err)
	}
	return tok, nil
}

func wrongType(field, want string, tok json.Token) *uploadError {
	got := fmt.Sprintf("%T", tok)
	switch v := tok.(type) {
	case nil:
		got = "null"
	case json.Delim:
		got = fmt.Sprintf("%q", string(v))
	case string:
		got = "a string"
	case json.Number:
		got = "a number"
	case bool:
		got = "a boolean"
	}
	return badField(field, fmt.Errorf("want %s, got %s: %w", want, got, ErrMalformed))
}

func unknownField(field, name string) *uploadError {
	if field == "" {
		field = "body"
	}
	return badField(field, fmt.Errorf("%w %q", ErrUnknownField, name))
}

// object reads an object, calling fn with each key while the decoder
// stands before its value; fn must consume the value. A key given twice
// is refused, whatever its case-sensitive spelling matches.
func (d *strictDecoder) object(field string, fn func(key string) *uploadError) *uploadError {
	tok, perr := d.token(field)
	if perr != nil {
		return perr
	}
	if tok != json.Delim('{') {
		return wrongType(field, "an object", tok)
	}
	seen := make(map[string]bool, 8)
	for d.dec.More() {
		tok, perr := d.token(field)
		if perr != nil {
			return perr
		}
		key := tok.(string) // inside an object, More and Token yield keys
		name := key
		if field != "body" {
			name = field + "." + key
		} else if key == "" {
			name = field
		}
		if seen[key] {
			return badField(name, fmt.Errorf("%q: %w", key, ErrDuplicateField))
		}
		seen[key] = true
		if perr := fn(key); perr != nil {
			return perr
		}
	}
	_, perr = d.token(field) // '}'
	return perr
}

// array reads an array, calling fn with each index while the decoder
// stands before the element; fn must consume it.
func (d *strictDecoder) array(field string, fn func(i int) *uploadError) *uploadError {
	tok, perr := d.token(field)
	if perr != nil {
		return perr
	}
	if tok != json.Delim('[') {
		return wrongType(field, "an array", tok)
	}
	for i := 0; d.dec.More(); i++ {
		if perr := fn(i); perr != nil {
			return perr
		}
	}
	_, perr = d.token(field) // ']'
	return perr
}

func (d *strictDecoder) string(field string) (*string, *uploadError) {
	tok, perr := d.token(field)
	if perr != nil {
		return nil, perr
	}
	s, ok := tok.(string)
	if !ok {
		return nil, wrongType(field, "a string", tok)
	}
	return &s, nil
}

// number reads an integer: no fraction or exponent, as encoding/json
// reads one into an integer field.
func (d *strictDecoder) number(field string) (json.Number, *uploadError) {
	tok, perr := d.token(field)
	if perr != nil {
		return "", perr
	}
	n, ok := tok.(json.Number)
	if !ok {
		return "", wrongType(field, "an integer", tok)
	}
	return n, nil
}

func (d *strictDecoder) bool(field string, v **bool) *uploadError {
	tok, perr := d.token(field)
	if perr != nil {
		return perr
	}
	b, ok := tok.(bool)
	if !ok {
		return wrongType(field, "a boolean", tok)
	}
	*v = &b
	return nil
}

func (d *strictDecoder) int64(field string, v **int64) *uploadError {
	n, perr := d.number(field)
	if perr != nil {
		return perr
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return badField(field, fmt.Errorf("%s is not an integer in range: %w", n, ErrFieldValue))
	}
	*v = &i
	return nil
}
