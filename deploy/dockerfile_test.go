package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-status/gitops-status/deploy/internal/tooltest"
	"github.com/gitops-status/gitops-status/deploy/ociimage"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case
	args string
}

// parseDockerfile returns the instructions of the Dockerfile's stages, one
// list per FROM.
func parseDockerfile(t *testing.T, file string) [][]instruction {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before FROM", file, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

func find(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// jsonArgs decodes an exec-form argument list.
func jsonArgs(t *testing.T, what, s string) []string {
	t.Helper()
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		t.Fatalf("%s %s is not in exec (JSON) form: %v", what, s, err)
	}
	return l
}

// TestDockerfileMatchesOCIImage: the Dockerfile (built where Docker runs)
// makes the image deploy/ociimage makes without Docker: same user, port,
// env, volume, entrypoint, command and labels; a static, stamped build; and
// a HEALTHCHECK that is a real subcommand of the binary.
func TestDockerfileMatchesOCIImage(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(tooltest.Root(), "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("the Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if from := find(build, "FROM"); !strings.HasPrefix(from[0], "golang:1.27 ") {
		t.Errorf("build stage FROM %q, want golang:1.27 (the toolchain make uses)", from[0])
	}
	runs := strings.Join(find(build, "RUN"), "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "-X main.date=${DATE}",
		"gitops:x:65532:65532:gitops-status:/data:/sbin/nologin", "gitops:x:65532:"} {
		if !strings.Contains(runs, want) {
			t.Errorf("the build stage's RUN lacks %q", want)
		}
	}
	if from := find(final, "FROM"); from[0] != "scratch" && !strings.HasPrefix(from[0], "gcr.io/distroless/static") {
		t.Errorf("runtime FROM %q, want scratch or distroless static", from[0])
	}

	if got := find(final, "USER"); len(got) != 1 || got[0] != ociimage.User {
		t.Errorf("USER %q, want %q", got, ociimage.User)
	}
	if got := find(final, "EXPOSE"); !slices.Equal(got, []string{ociimage.Port}) {
		t.Errorf("EXPOSE %q, want %q", got, ociimage.Port)
	}
	var env []string
	for _, e := range find(final, "ENV") {
		env = append(env, strings.Fields(e)...)
	}
	slices.Sort(env)
	want := slices.Clone(ociimage.Env)
	slices.Sort(want)
	if !slices.Equal(env, want) {
		t.Errorf("ENV %q, want %q", env, want)
	}
	if got := find(final, "VOLUME"); len(got) != 1 || !slices.Equal(jsonArgs(t, "VOLUME", got[0]), []string{ociimage.DataDir}) {
		t.Errorf("VOLUME %q, want [%q]", got, ociimage.DataDir)
	}
	if got := find(final, "ENTRYPOINT"); len(got) != 1 || !slices.Equal(jsonArgs(t, "ENTRYPOINT", got[0]), ociimage.Entrypoint) {
		t.Errorf("ENTRYPOINT %q, want %q", got, ociimage.Entrypoint)
	}
	if got := find(final, "CMD"); len(got) != 1 || !slices.Equal(jsonArgs(t, "CMD", got[0]), ociimage.Cmd) {
		t.Errorf("CMD %q, want %q", got, ociimage.Cmd)
	}
	if got := find(final, "STOPSIGNAL"); !slices.Equal(got, []string{ociimage.StopSignal}) {
		t.Errorf("STOPSIGNAL %q, want %s", got, ociimage.StopSignal)
	}
	copies := strings.Join(find(final, "COPY"), "\n")
	for _, want := range []string{
		"--chown=65532:65532 --chmod=700 /out/data " + ociimage.DataDir,
		"/out/gitops-status " + ociimage.Binary,
		"/etc/ssl/certs/ca-certificates.crt " + ociimage.CACerts,
		"/out/passwd /etc/passwd", "/out/group /etc/group",
	} {
		if !strings.Contains(copies, want) {
			t.Errorf("the runtime stage's COPY lacks %q", want)
		}
	}
	labels := strings.Join(find(final, "LABEL"), " ")
	for k := range (ociimage.Config{}).Labels() {
		if !strings.Contains(labels, k+"=") {
			t.Errorf("LABEL lacks %s", k)
		}
	}

	// The HEALTHCHECK runs a subcommand the binary has, with no shell.
	hc := find(final, "HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("HEALTHCHECK %q, want one", hc)
	}
	_, cmd, ok := strings.Cut(hc[0], " CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %q has no CMD", hc[0])
	}
	argv := jsonArgs(t, "HEALTHCHECK CMD", cmd)
	if len(argv) != 2 || argv[0] != ociimage.Binary || argv[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK CMD %q, want [%q healthcheck]", argv, ociimage.Binary)
	}
	bin := tooltest.Binary(t)
	if flags := tooltest.Flags(t, bin, argv[1]); !flags["addr"] || !flags["tls-cert"] {
		t.Errorf("%s %s takes %v; want --addr and --tls-cert, read from serve's env", bin, argv[1], flags)
	}
}

// TestDockerBuild builds the image with Docker where a daemon answers
// (never on our machines; CI has none either).
func TestDockerBuild(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker client")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("no Docker daemon")
	}
	cmd := exec.Command("docker", "build", "--build-arg", "VERSION="+tooltest.Version, "-t", "gitops-status:test", ".")
	cmd.Dir = tooltest.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
}
