//go:build !race

package gitops_test

const raceEnabled = false
