//go:build !unix

package pact_test

// processCPU is not measured on this platform.
func processCPU() int64 { return 0 }
