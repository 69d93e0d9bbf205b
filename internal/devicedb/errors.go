package devicedb

import (
	"errors"
	"fmt"
)

// ErrBadRow is wrapped by every error about a stored row that the schema
// accepts but no program of this module writes: another program's or one
// damaged on disk. Reading stops at such a row and leaves it in place.
var ErrBadRow = errors.New("devicedb: stored row out of range")

// A RowError names the row and column at fault and the value found.
type RowError struct {
	Row    string // "seed", "sighting" or "contact"
	Column string // the column, as in the schema
	Value  int64  // the value found; for a blob, its length in bytes
	Want   string // what the column must hold
}

func (e *RowError) Error() string {
	return fmt.Sprintf("devicedb: stored %s has %s %d, want %s", e.Row, e.Column, e.Value, e.Want)
}

// Unwrap returns ErrBadRow.
func (e *RowError) Unwrap() error { return ErrBadRow }

// ErrCountsDrift is wrapped when a change to the contact log would remove
// sightings from a dashboard aggregate row that does not hold them: the
// aggregates no longer equal a GROUP BY over the log (a file changed by a
// program that bypassed this package). The change is refused.
var ErrCountsDrift = errors.New("devicedb: dashboard counts disagree with the contact log")
