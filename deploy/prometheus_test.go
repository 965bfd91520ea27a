// Package deploy_test checks the files under deploy/ with the tools that
// read them: promtool for the Prometheus rules, a real server for the
// Grafana dashboards' queries.
package deploy_test

import (
	"os"
	"os/exec"
	"testing"
)

// requireTool returns the path of a tool a test needs. Locally a missing
// tool skips the test; with GITOPS_STATUS_REQUIRE_TOOLS=1 (CI) it fails.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("GITOPS_STATUS_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is not installed (Debian package %s) and GITOPS_STATUS_REQUIRE_TOOLS=1", name, pkg)
	}
	t.Skipf("%s is not installed (Debian package %s)", name, pkg)
	return ""
}

// TestAlertRules: the shipped rules load and pass their unit tests.
func TestAlertRules(t *testing.T) {
	promtool := requireTool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
