package pact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrTupleFile is a file that is none of the encodings ParseTupleFile
// reads: empty, neither a tuple list nor JSON, or a JSON object without
// "tuples". Errors inside a tuple wrap the tuple's own errors instead.
var ErrTupleFile = errors.New("not a tuple file")

// ParseTupleFile decodes a list of tuples in any encoding of spec §6: the
// binary list ("PCT1"), a JSON array of tuples, or a JSON object whose
// "tuples" field is such an array (an upload body; other fields are
// ignored). Tuples are decoded, not validated: callers apply Validate with
// their own limits.
func ParseTupleFile(b []byte) ([]Tuple, error) {
	if bytes.HasPrefix(b, tupleListMagic[:]) {
		return DecodeTuples(b)
	}
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("tuple file: empty: %w", ErrTupleFile)
	}
	switch trimmed[0] {
	case '[':
		var ts []Tuple
		if err := json.Unmarshal(trimmed, &ts); err != nil {
			return nil, fmt.Errorf("tuple file: %w", err)
		}
		return ts, nil
	case '{':
		var body struct {
			Tuples *[]Tuple `json:"tuples"`
		}
		if err := json.Unmarshal(trimmed, &body); err != nil {
			return nil, fmt.Errorf("tuple file: %w", err)
		}
		if body.Tuples == nil {
			return nil, fmt.Errorf("tuple file: JSON object has no \"tuples\" field: %w", ErrTupleFile)
		}
		return *body.Tuples, nil
	}
	return nil, fmt.Errorf("tuple file: starts with %q, which is neither \"PCT1\" nor JSON: %w", trimmed[:min(len(trimmed), 8)], ErrTupleFile)
}
