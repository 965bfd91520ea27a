//go:build !linux

package main

import (
	"errors"
	"syscall"
)

func childAttrs() *syscall.SysProcAttr { return nil }

// rssMiB needs /proc; elsewhere the table shows "-".
func rssMiB(pid int) (float64, error) { return 0, errors.New("RSS is read from /proc, Linux only") }
