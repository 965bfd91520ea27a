// Package deploy_test checks the files under deploy/ with the tools that
// read them: promtool for the Prometheus rules, a real server for the
// Grafana dashboards' queries.
package deploy_test

import (
	"os/exec"
	"testing"

	tools "github.com/gitops-status/gitops-status/internal/tooltest"
)

// TestAlertRules: the shipped rules load and pass their unit tests.
func TestAlertRules(t *testing.T) {
	promtool := tools.Need(t, "promtool")
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
