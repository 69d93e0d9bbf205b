//go:build !unix

package sim

import "time"

// processCPU is not measured here: matching CPU reads zero.
func processCPU() time.Duration { return 0 }
