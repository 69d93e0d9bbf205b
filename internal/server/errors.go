package server

import "errors"

// Sentinel errors that upload refusals wrap, so that a caller (and a test)
// can tell which rule refused an upload with errors.Is; the refusal also
// names the field at fault.
var (
	// ErrFieldMissing: a required field is absent (or null).
	ErrFieldMissing = errors.New("field is missing")
	// ErrUnknownField: a field the format does not define; names are
	// case-sensitive (docs/protocol.md §6.2), so "SEED" is one.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicateField: a field given twice in one object.
	ErrDuplicateField = errors.New("field appears twice")
	// ErrMalformed: the body is not JSON, or a value has the wrong JSON type.
	ErrMalformed = errors.New("malformed JSON")
	// ErrFieldValue: a value of the right type outside what is allowed.
	ErrFieldValue = errors.New("value out of range")
	// ErrEmptyUpload: no tuples and no Find My keys.
	ErrEmptyUpload = errors.New("no tuples and no Find My keys")
	// ErrTooMany: more tuples or Find My keys than one upload may hold.
	ErrTooMany = errors.New("too many entries")
	// ErrTooLarge: the body exceeds Config.MaxBodyBytes.
	ErrTooLarge = errors.New("body too large")
	// ErrTooCostly: Find My schedule entries that would cost more
	// derivation than one upload may.
	ErrTooCostly = errors.New("costs too many derivation steps")
	// ErrRateLimited: the client network used up its refused numbers or
	// its Find My derivation budget.
	ErrRateLimited = errors.New("rate limited")
	// ErrRegion: a region this server does not serve.
	ErrRegion = errors.New("region not served")
	// ErrUnavailable: the upload could not be stored; nothing was kept.
	ErrUnavailable = errors.New("unavailable")
)
