package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gitops-status/gitops-status/deploy/internal/tooltest"
	tools "github.com/gitops-status/gitops-status/internal/tooltest"
)

const unitFile = "systemd/gitops-status.service"

// analyze runs systemd-analyze with args on the unit as it is, with the
// real binary at its ExecStart path: in a private mount namespace the
// binary's directory is bind-mounted over /usr/local/bin, which verify
// checks for the executable. It returns the combined output.
func analyze(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	sa := tools.Need(t, "systemd-analyze")
	tools.Need(t, "unshare")
	tools.NeedRoot(t)
	unit, err := filepath.Abs(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	script := `mount --bind "$1" /usr/local/bin && shift && exec "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh",
		filepath.Dir(bin), sa}, append(args, unit)...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSystemdUnitVerifies: systemd-analyze verify reports nothing about the
// unit (it exits 0 even for unknown keys, so any output is a failure), and
// its offline security analysis rates it well.
func TestSystemdUnitVerifies(t *testing.T) {
	bin := tooltest.Binary(t)
	if filepath.Base(bin) != "gitops-status" {
		t.Fatalf("binary %s", bin)
	}
	out, err := analyze(t, bin, "verify")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
	out, err = analyze(t, bin, "security", "--offline=true", "--no-pager")
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for gitops-status.service: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	// docs/deploy.md records the level; 2.0 leaves room for systemd's
	// scoring to move a little between versions.
	if level, _ := strconv.ParseFloat(m[1], 64); level > 2.0 {
		t.Errorf("exposure level %s, want at most 2.0 (docs/deploy.md says 1.2):\n%s", m[1], out)
	}
}

// TestSystemdSettingsAreFlags: every GITOPS_STATUS_ variable the unit sets
// or the example env file names (commented out or not) is a flag of the
// real binary's serve, and the unit runs serve.
func TestSystemdSettingsAreFlags(t *testing.T) {
	flags := tooltest.Flags(t, tooltest.Binary(t), "serve")
	unit := readLines(t, unitFile)
	var execStart string
	var vars []string
	for _, l := range unit {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			execStart = v
		}
		if v, ok := strings.CutPrefix(l, "Environment="); ok {
			name, _, _ := strings.Cut(v, "=")
			vars = append(vars, name)
		}
	}
	if execStart != "/usr/local/bin/gitops-status serve" {
		t.Errorf("ExecStart=%q, want the binary's serve", execStart)
	}
	envVar := regexp.MustCompile(`^#?(GITOPS_STATUS_[A-Z0-9_]+)=`)
	for _, l := range readLines(t, "systemd/gitops-status.env") {
		if m := envVar.FindStringSubmatch(l); m != nil {
			vars = append(vars, m[1])
		}
	}
	if len(vars) < 10 {
		t.Fatalf("found only %d variables: %q", len(vars), vars)
	}
	for _, v := range vars {
		if tooltest.FlagOfEnv(flags, v) == "" {
			t.Errorf("%s is not the variable of any flag of gitops-status serve", v)
		}
	}
}

func readLines(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	return lines
}
