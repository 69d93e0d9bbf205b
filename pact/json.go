package pact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// decodeStrictJSON decodes exactly one JSON value into v, rejecting unknown
// fields and trailing data.
func decodeStrictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
