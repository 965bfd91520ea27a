//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

func childAttrs() *syscall.SysProcAttr { return nil }

// rssMiB needs /proc; elsewhere the table shows "-".
func rssMiB(pid int) (float64, error) { return 0, errors.New("RSS is read from /proc, Linux only") }

// cpuTime needs /proc; elsewhere the table shows "-".
func cpuTime(pid int) (time.Duration, error) {
	return 0, errors.New("CPU time is read from /proc, Linux only")
}

func machineCPU() (busy, total time.Duration, err error) {
	return 0, 0, errors.New("machine CPU is read from /proc/stat, on Linux only")
}

func ioCalls(pid int) (reads, writes int64, err error) {
	return 0, 0, errors.New("system calls are counted in /proc, on Linux only")
}
