//go:build unix

package sqlite_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time, user and system, the process has used: with
// writes bound by fsync, wall time per write says little about what a
// write costs, while CPU per write is what limits a busy server.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
