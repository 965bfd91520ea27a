// Package tooltest lets tests that drive real tools (promtool, chromium,
// ansible-playbook, skopeo, …) skip where a tool is missing on a developer's
// machine, and fail instead where GITOPS_STATUS_REQUIRE_TOOLS=1, as .ci/run
// sets after installing them all: a test that silently skips in CI proves
// nothing. It is for tests only.
package tooltest

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether missing tools fail tests rather than skip them.
func Required() bool { return os.Getenv("GITOPS_STATUS_REQUIRE_TOOLS") == "1" }

// Need returns the path of tool, skipping tb when it is not on PATH, or
// failing it when Required.
func Need(tb testing.TB, tool string) string {
	tb.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		Missing(tb, tool+" is not installed; .ci/run installs it")
	}
	return p
}

// NeedRoot skips tb unless it runs as root, or fails it when Required.
func NeedRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Missing(tb, "this test must run as root")
	}
}

// Missing ends tb because something it needs is not there: why says what
// and how to get it. It skips, or fails when Required.
func Missing(tb testing.TB, why string) {
	tb.Helper()
	if Required() {
		tb.Fatalf("%s (GITOPS_STATUS_REQUIRE_TOOLS=1 requires it)", why)
	}
	tb.Skip(why)
}
