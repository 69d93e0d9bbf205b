//go:build unix

package exposuresync

import "syscall"

// processCPU returns the CPU time the process has used, user and system,
// in nanoseconds. On a shared machine it is steadier than wall time.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
