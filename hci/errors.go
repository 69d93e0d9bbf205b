package hci

import (
	"errors"
	"fmt"
)

// ErrInvalidSetting is wrapped by every *SettingError: a value given to
// this package (a flag, a scan or advertising parameter) that it cannot
// use, found before any controller is touched.
var ErrInvalidSetting = errors.New("invalid setting")

// SettingError names a setting and the value it was given.
type SettingError struct {
	// Setting is what the value is for, e.g. "scan interval".
	Setting string
	// Value is the value as given, printed.
	Value string
	// msg says which values are accepted, for people.
	msg string
}

func (e *SettingError) Error() string { return e.msg }

// Unwrap lets errors.Is match ErrInvalidSetting.
func (e *SettingError) Unwrap() error { return ErrInvalidSetting }

// invalidSetting returns a *SettingError for setting and value, worded
// by format and args.
func invalidSetting(setting string, value any, format string, args ...any) error {
	return &SettingError{Setting: setting, Value: fmt.Sprint(value), msg: fmt.Sprintf(format, args...)}
}

// ErrUnencodable is wrapped by the error for a command or event whose
// values do not fit its wire format: too many bytes, too many reports, or
// a value the format cannot carry.
var ErrUnencodable = errors.New("hci: cannot be encoded")

// ErrNoExtendedAdvertising is wrapped by the error for an extended
// advertiser on a controller that cannot give one: it lacks the extended
// advertising commands, or it scans with the legacy ones, which the Core
// spec forbids mixing with extended commands (Vol 4 Part E §3.1.1).
var ErrNoExtendedAdvertising = errors.New("hci: no extended advertising on this controller")
