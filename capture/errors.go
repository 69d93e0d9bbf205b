package capture

import (
	"fmt"

	"github.com/pact-findmy/pact-findmy/hci"
)

// malformed reports a field of a capture format that does not follow the
// format. It is an *hci.FormatError, so errors.Is(err, hci.ErrMalformed)
// tells damaged bytes from an I/O failure in captures and live events
// alike.
func malformed(format, field string, offset int, problem string, args ...any) error {
	return &hci.FormatError{Format: format, Field: field, Offset: int64(offset), Problem: fmt.Sprintf(problem, args...)}
}
