package pact

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Tuple is one entry of an upload: the seed a diagnosed device used and the
// first and last minute it chirped with it (spec §6). Start <= End, and
// both lie in the same UTC hour, the only hour the seed is used in.
type Tuple struct {
	Seed  Seed
	Start Minute
	End   Minute
}

// Minutes returns how many minutes the tuple covers.
func (t Tuple) Minutes() int { return int(t.End-t.Start) + 1 }

// TupleSize is the length of one tuple in the compact binary encoding:
// seed (32) || start (uint32, big-endian) || end - start (uint8) (spec §6.1).
const TupleSize = SeedSize + 4 + 1

// Limits bound what Validate accepts (spec §6.3).
type Limits struct {
	// Now is the current minute: nothing may end after Now + Skew.
	Now Minute
	// Skew tolerates clocks that run ahead, in minutes.
	Skew Minute
	// Horizon is the oldest minute accepted; older tuples are past retention.
	Horizon Minute
}

// LimitsAt returns the limits for the current minute now and a retention
// period in minutes, with no clock skew allowed.
func LimitsAt(now Minute, retention Minute) Limits {
	l := Limits{Now: now}
	if now > retention {
		l.Horizon = now - retention
	}
	return l
}

// Sentinel errors that Validate wraps, so callers can tell which rule failed.
var (
	ErrTimeOrder = errors.New("start is after end")
	ErrWindow    = errors.New("window is an hour or longer")
	// ErrHourBoundary is a window whose start and end lie in different
	// UTC hours: a seed is used only in its own hour (spec §3, §6.3).
	ErrHourBoundary = errors.New("window crosses an hour boundary")
	ErrFuture       = errors.New("ends in the future")
	ErrExpired      = errors.New("starts before the retention horizon")
)

// Errors of decoding a tuple (spec §6.1, §6.2), each wrapped with the
// field or bytes at fault; a JSON tuple's error is a *TupleFieldError.
var (
	// ErrTupleJSON is JSON that is not a tuple object: a syntax error,
	// another type, or data after the object.
	ErrTupleJSON = errors.New("not a JSON tuple object")
	// ErrUnknownField is a JSON tuple field other than seed, start, end
	// (names are case sensitive).
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicateField is a JSON tuple field given twice.
	ErrDuplicateField = errors.New("field appears twice")
	// ErrMissingField is a JSON tuple without one of its three fields.
	ErrMissingField = errors.New("field is missing")
	// ErrFieldType is a JSON tuple field of the wrong JSON type.
	ErrFieldType = errors.New("field of the wrong type")
	// ErrMinuteRange is a minute that is not an integer in 0..2^32-1, or
	// a binary tuple whose end overflows the minute counter.
	ErrMinuteRange = errors.New("minute out of range")
	// ErrTupleList is a binary tuple or tuple list whose header (length,
	// magic) or length is wrong.
	ErrTupleList = errors.New("malformed tuple list")
	// ErrTooManyTuples is a tuple list of more than MaxTuplesPerList.
	ErrTooManyTuples = errors.New("more tuples than a list holds (MaxTuplesPerList)")
)

// TupleFieldError is a JSON tuple that does not decode: the field at fault
// ("" for the object as a whole) and the sentinel or cause (ErrHexLength,
// ErrMinuteRange, ErrUnknownField, ...) that errors.Is finds.
type TupleFieldError struct {
	Field string
	Err   error
	msg   string
}

func (e *TupleFieldError) Error() string { return e.msg }
func (e *TupleFieldError) Unwrap() error { return e.Err }

// fieldError returns a *TupleFieldError for field wrapping err, with the
// message format and args give.
func fieldError(field string, err error, format string, args ...any) error {
	return &TupleFieldError{Field: field, Err: err, msg: fmt.Sprintf(format, args...)}
}

// Validate checks a tuple against the rules of spec §6.3. The error names
// the field and its value.
func (t Tuple) Validate(l Limits) error {
	if err := t.checkShape(); err != nil {
		return fmt.Errorf("tuple %w", err)
	}
	switch {
	case uint64(t.End) > uint64(l.Now)+uint64(l.Skew):
		return fmt.Errorf("tuple end %d: %w (now is %d)", t.End, ErrFuture, l.Now)
	case t.Start < l.Horizon:
		return fmt.Errorf("tuple start %d: %w (horizon is %d)", t.Start, ErrExpired, l.Horizon)
	}
	return nil
}

// checkShape applies rules 1 and 2 of spec §6.3, the ones that hold at any
// time: a matcher enforces them on every tuple it reads, whatever its clock.
func (t Tuple) checkShape() error {
	switch {
	case t.Start > t.End:
		return fmt.Errorf("start %d, end %d: %w", t.Start, t.End, ErrTimeOrder)
	case t.End-t.Start >= MinutesPerHour:
		return fmt.Errorf("start %d, end %d: %w (%d minutes, limit %d)", t.Start, t.End, ErrWindow, uint64(t.End-t.Start)+1, MinutesPerHour)
	case t.Start/MinutesPerHour != t.End/MinutesPerHour:
		return fmt.Errorf("start %d, end %d: %w (hours starting at %d and %d)", t.Start, t.End, ErrHourBoundary,
			t.Start/MinutesPerHour*MinutesPerHour, t.End/MinutesPerHour*MinutesPerHour)
	}
	return nil
}

// AppendBinary appends the compact encoding of spec §6.1. The tuple must
// have End - Start < 256; Validate guarantees less than 60.
func (t Tuple) AppendBinary(b []byte) ([]byte, error) {
	if t.Start > t.End || t.End-t.Start > 255 {
		return b, fmt.Errorf("encoding tuple start %d, end %d: window does not fit one byte", t.Start, t.End)
	}
	b = append(b, t.Seed[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(t.Start))
	return append(b, byte(t.End-t.Start)), nil
}

// UnmarshalBinary decodes exactly one tuple in the encoding of spec §6.1.
// On error t is left as it was.
func (t *Tuple) UnmarshalBinary(b []byte) error {
	if len(b) != TupleSize {
		return fmt.Errorf("tuple: want %d bytes, got %d: %w", TupleSize, len(b), ErrTupleList)
	}
	start := binary.BigEndian.Uint32(b[SeedSize:])
	span := uint32(b[SeedSize+4])
	if uint64(start)+uint64(span) > uint64(^uint32(0)) {
		return fmt.Errorf("tuple start %d + span %d: overflows the minute counter: %w", start, span, ErrMinuteRange)
	}
	*t = Tuple{Seed: Seed(b[:SeedSize]), Start: Minute(start), End: Minute(start + span)}
	return nil
}

// tupleListMagic opens a binary tuple list (spec §6.1).
var tupleListMagic = [4]byte{'P', 'C', 'T', '1'}

// MaxTuplesPerList bounds a decoded list so a hostile count cannot make the
// decoder allocate without limit: 90 days of hourly seeds with room to spare.
const MaxTuplesPerList = 4096

// EncodeTuples encodes a list as magic "PCT1" || uint32_be(count) || tuples.
// It refuses more than MaxTuplesPerList tuples, since DecodeTuples, and any
// other decoder of spec §6.1, would reject the result.
func EncodeTuples(ts []Tuple) ([]byte, error) {
	if len(ts) > MaxTuplesPerList {
		return nil, fmt.Errorf("encoding a tuple list: %d tuples exceed the limit %d: %w", len(ts), MaxTuplesPerList, ErrTooManyTuples)
	}
	b := make([]byte, 0, 8+len(ts)*TupleSize)
	b = append(b, tupleListMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ts)))
	for i, t := range ts {
		var err error
		if b, err = t.AppendBinary(b); err != nil {
			return nil, fmt.Errorf("tuple %d: %w", i, err)
		}
	}
	return b, nil
}

// DecodeTuples decodes a list written by EncodeTuples.
func DecodeTuples(b []byte) ([]Tuple, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("tuple list: %d bytes is shorter than the 8-byte header: %w", len(b), ErrTupleList)
	}
	if [4]byte(b[:4]) != tupleListMagic {
		return nil, fmt.Errorf("tuple list: magic %x, want %x (%q): %w", b[:4], tupleListMagic, tupleListMagic[:], ErrTupleList)
	}
	n := binary.BigEndian.Uint32(b[4:8])
	if n > MaxTuplesPerList {
		return nil, fmt.Errorf("tuple list: count %d exceeds the limit %d: %w", n, MaxTuplesPerList, ErrTooManyTuples)
	}
	body := b[8:]
	if uint64(len(body)) != uint64(n)*TupleSize {
		return nil, fmt.Errorf("tuple list: count %d needs %d bytes of tuples, got %d: %w", n, uint64(n)*TupleSize, len(body), ErrTupleList)
	}
	ts := make([]Tuple, n)
	for i := range ts {
		if err := ts[i].UnmarshalBinary(body[i*TupleSize : (i+1)*TupleSize]); err != nil {
			return nil, fmt.Errorf("tuple list entry %d: %w", i, err)
		}
	}
	return ts, nil
}

// tupleJSON is the JSON form of spec §6.2, for encoding.
type tupleJSON struct {
	Seed  string `json:"seed"`
	Start uint32 `json:"start"`
	End   uint32 `json:"end"`
}

// MarshalJSON encodes {"seed": "<64 hex>", "start": minute, "end": minute}.
func (t Tuple) MarshalJSON() ([]byte, error) {
	return json.Marshal(tupleJSON{Seed: t.Seed.String(), Start: uint32(t.Start), End: uint32(t.End)})
}

// tupleFields are the keys of the JSON form, in the order Tuple holds them.
var tupleFields = [3]string{"seed", "start", "end"}

// UnmarshalJSON decodes the JSON form of spec §6.2: an object with the keys
// "seed", "start" and "end", each exactly once and in lowercase. It reads
// the object token by token rather than into a struct because
// encoding/json matches names regardless of case and keeps the last of two
// equal ones: {"SEED": a, "seed": b} would decode where spec §6.2 admits
// neither, and two implementations could read different seeds from one
// upload.
func (t *Tuple) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil {
		return fieldError("", errors.Join(ErrTupleJSON, err), "tuple: %v", err)
	} else if tok != json.Delim('{') {
		return fieldError("", ErrTupleJSON, "tuple: want a JSON object, got %s", tokenText(tok))
	}
	var (
		seed    Seed
		minutes [2]Minute
		seen    [len(tupleFields)]bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fieldError("", errors.Join(ErrTupleJSON, err), "tuple: %v", err)
		}
		key, _ := tok.(string)
		i := slices.Index(tupleFields[:], key)
		switch {
		case i < 0:
			return fieldError(key, ErrUnknownField, "tuple: unknown field %q", key)
		case seen[i]:
			return fieldError(key, ErrDuplicateField, "tuple: field %q appears twice", key)
		}
		seen[i] = true
		if tok, err = dec.Token(); err != nil {
			return fieldError(key, errors.Join(ErrTupleJSON, err), "tuple field %q: %v", key, err)
		}
		if i == 0 {
			hex, ok := tok.(string)
			if !ok {
				return fieldError("seed", ErrFieldType, "tuple field \"seed\": want a string of hex digits, got %s", tokenText(tok))
			}
			if seed, err = ParseSeed(hex); err != nil {
				return fieldError("seed", err, "tuple field \"seed\": %v", err)
			}
			continue
		}
		n, ok := tok.(json.Number)
		if !ok {
			return fieldError(key, ErrFieldType, "tuple field %q: want an integer minute, got %s", key, tokenText(tok))
		}
		if minutes[i-1], err = minuteFromJSON(key, n); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fieldError("", errors.Join(ErrTupleJSON, err), "tuple: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fieldError("", ErrTupleJSON, "tuple: trailing data after the JSON object")
	}
	for i, ok := range seen {
		if !ok {
			return fieldError(tupleFields[i], ErrMissingField, "tuple: field %q is missing", tupleFields[i])
		}
	}
	*t = Tuple{Seed: seed, Start: minutes[0], End: minutes[1]}
	return nil
}

// tokenText describes a JSON token for an error message.
func tokenText(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", truncate(v))
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	}
	return fmt.Sprint(tok)
}

func minuteFromJSON(field string, n json.Number) (Minute, error) {
	v, err := n.Int64()
	if err != nil {
		if _, ierr := strconv.ParseInt(string(n), 10, 0); ierr != nil && !errors.Is(ierr, strconv.ErrRange) {
			return 0, fieldError(field, ErrMinuteRange, "tuple field %q: minute %s is not an integer", field, truncate(string(n)))
		}
		return 0, fieldError(field, ErrMinuteRange, "tuple field %q: minute %s is outside 0..%d", field, truncate(string(n)), ^uint32(0))
	}
	if v < 0 || v > int64(^uint32(0)) {
		return 0, fieldError(field, ErrMinuteRange, "tuple field %q: minute %d is outside 0..%d", field, v, ^uint32(0))
	}
	return Minute(v), nil
}
