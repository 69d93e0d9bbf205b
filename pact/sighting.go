package pact

import (
	"errors"
	"fmt"
	"math"
)

// Source says how a chirp reached the contact log (spec §5.2).
type Source string

// Sources known to this implementation. The contact log stores the string,
// so later sources need no schema change.
const (
	// SourcePACT is a native PACT chirp advertisement (spec §7).
	SourcePACT Source = "pact"
	// SourceFindMy is a 28-byte Apple Offline Finding key (docs/findmy.md).
	SourceFindMy Source = "findmy"
	// SourceRepeater is a chirp re-broadcast by a repeater (spec §9.1),
	// heard in a version-2 frame with the repeated flag.
	SourceRepeater Source = "repeater"
	// SourceFindMyRepeater is a Find My key re-broadcast by a repeater
	// inside a repeated PACT frame of kind Find My key (spec §9.1.4),
	// never as an Apple frame.
	SourceFindMyRepeater Source = "findmy-repeater"
)

// Valid reports whether s is a source that may enter the contact log.
func (s Source) Valid() bool {
	switch s {
	case SourcePACT, SourceFindMy, SourceRepeater, SourceFindMyRepeater:
		return true
	}
	return false
}

// Indirect reports whether s is a repeated source: the chirp or key was
// heard from a repeater, up to MaxRepeatDelay minutes after its sender
// broadcast it, so its owner may have left before this device came
// (spec §9.1). The matcher gives such sightings the longer window of
// §9.1.3 and reports their contacts apart, as indirect (surface)
// contacts.
func (s Source) Indirect() bool {
	return s == SourceRepeater || s == SourceFindMyRepeater
}

// PreferDirect returns the source a contact-log entry keeps when one
// chirp or key is heard in one minute both directly and from a repeater:
// the direct one, the stronger evidence (spec §9.1.3). Otherwise it keeps
// the first.
func PreferDirect(stored, heard Source) Source {
	if stored.Indirect() && !heard.Indirect() {
		return heard
	}
	return stored
}

// RSSIUnknown is the HCI value for "RSSI not available" (Core spec Vol 4
// Part E §7.7.65.2). It sorts above every real reading, so it never
// replaces a measured maximum; see MergeRSSI.
const RSSIUnknown int8 = 127

// MergeRSSI returns the stronger of two readings, treating RSSIUnknown as
// weaker than any measurement.
func MergeRSSI(a, b int8) int8 {
	switch {
	case a == RSSIUnknown:
		return b
	case b == RSSIUnknown:
		return a
	}
	return max(a, b)
}

// Location is a coarse position. Coarsen rounds to about 1 km so the log
// never holds a precise track (spec §5.2). A contact log stores none
// unless its owner turned location logging on (ContactLogOptions).
type Location struct {
	Lat, Lon float64
}

// LocationPrecision is the grid, in degrees, that Coarsen rounds to.
const LocationPrecision = 0.01

// locationCells is 1 / LocationPrecision, the grid cells per degree.
const locationCells = 100

// Coarsen rounds l to the LocationPrecision grid as spec §11 fixes it:
// each coordinate v becomes k / 100 with k = v × 100 rounded half away
// from zero, both operations in IEEE 754 double precision, and -0 becomes
// 0. Two implementations therefore store the same bits for the same
// input.
func (l Location) Coarsen() Location {
	r := func(v float64) float64 {
		c := math.Round(v*locationCells) / locationCells
		if c == 0 {
			return 0 // not -0
		}
		return c
	}
	return Location{Lat: r(l.Lat), Lon: r(l.Lon)}
}

// Validate checks that l is a real position.
func (l Location) Validate() error {
	if !(l.Lat >= -90 && l.Lat <= 90) || !(l.Lon >= -180 && l.Lon <= 180) {
		return fmt.Errorf("location %v,%v: %w", l.Lat, l.Lon, ErrLocation)
	}
	return nil
}

// MergeTxPower combines the TX power of two sightings of one chirp in one
// minute (spec §5.2): a known value replaces TxPowerUnknown, and of two
// known values the higher is kept, which makes the attenuation larger and
// so never credits a frame with more proximity than one of its copies
// claimed (docs/matching.md §8.6).
func MergeTxPower(a, b int8) int8 {
	switch {
	case a == TxPowerUnknown:
		return b
	case b == TxPowerUnknown:
		return a
	}
	return max(a, b)
}

// Sighting is one chirp heard at one minute: the unit of the contact log.
// The log keeps one per (chirp, minute) with the maximum RSSI (spec §5.2).
type Sighting struct {
	Chirp  Chirp
	Minute Minute
	RSSI   int8
	// TxPower is the radiated power in dBm that the frame carried
	// (native frame version 2), or TxPowerUnknown for a frame without one
	// (version 1, Find My) and for rows stored before it was recorded.
	// The zero value is a known 0 dBm: constructors set TxPowerUnknown.
	TxPower  int8
	Source   Source
	Location *Location
}

// Errors of Sighting.Validate, wrapped with the value at fault.
var (
	// ErrSource is a sighting source other than the Source constants.
	ErrSource = errors.New("not a known sighting source")
	// ErrLocation is a location outside latitude -90..90, longitude
	// -180..180, or not a number.
	ErrLocation = errors.New("not a latitude/longitude")
	// ErrTxPower is a TX power outside TxPowerMin..TxPowerMax that is not
	// TxPowerUnknown.
	ErrTxPower = errors.New("not a TX power")
)

// Validate checks the fields a contact log relies on.
func (s *Sighting) Validate() error {
	if !s.Source.Valid() {
		return fmt.Errorf("sighting source %q: %w", s.Source, ErrSource)
	}
	if s.TxPower != TxPowerUnknown && (s.TxPower < TxPowerMin || s.TxPower > TxPowerMax) {
		return fmt.Errorf("sighting TX power %d dBm: %w", s.TxPower, ErrTxPower)
	}
	if s.Location != nil {
		if err := s.Location.Validate(); err != nil {
			return fmt.Errorf("sighting: %w", err)
		}
	}
	return nil
}
