// Package tooltest helps the deploy tests run the real binary: it builds
// it as make does and reads its real flags. Finding the tools themselves is
// the service module's internal/tooltest.
package tooltest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// Root is the repository root: the service's module.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Stamps are the -ldflags the test binaries are built with.
const (
	Version  = "v0.0.0-test"
	Revision = "0123456789abcdef0123456789abcdef01234567"
	Date     = "2026-12-01T10:00:00Z"
)

// Binary builds the static gitops-status binary, stamped as make build
// stamps it, into the test's temporary directory.
func Binary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gitops-status")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin,
		"-ldflags", "-s -w -X main.version="+Version+" -X main.commit="+Revision+" -X main.date="+Date,
		"./cmd/gitops-status")
	cmd.Dir = Root()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var flagLine = regexp.MustCompile(`^  -([a-z0-9-]+)`)

// Flags returns the flags `gitops-status COMMAND -h` lists.
func Flags(t testing.TB, bin, command string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bin, command, "-h").CombinedOutput()
	flags := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := flagLine.FindStringSubmatch(sc.Text()); m != nil {
			flags[m[1]] = true
		}
	}
	if len(flags) < 3 {
		t.Fatalf("%s %s -h listed %d flags:\n%s", bin, command, len(flags), out)
	}
	return flags
}

// EnvVar is the environment variable of a flag: --data-dir is
// GITOPS_STATUS_DATA_DIR.
func EnvVar(flag string) string {
	return "GITOPS_STATUS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// FlagOfEnv returns the flag of flags that the environment variable name
// sets, directly (GITOPS_STATUS_TOKENS_FILE is --tokens-file) or through
// its _FILE variant (GITOPS_STATUS_DATABASE_URL_FILE is --database-url);
// "" when none.
func FlagOfEnv(flags map[string]bool, name string) string {
	rest, ok := strings.CutPrefix(name, "GITOPS_STATUS_")
	if !ok {
		return ""
	}
	toFlag := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "-")) }
	if f := toFlag(rest); flags[f] {
		return f
	}
	if r, ok := strings.CutSuffix(rest, "_FILE"); ok && flags[toFlag(r)] {
		return toFlag(r)
	}
	return ""
}
