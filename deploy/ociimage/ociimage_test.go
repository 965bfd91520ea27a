package ociimage_test

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitops-status/gitops-status/deploy/internal/tooltest"
	"github.com/gitops-status/gitops-status/deploy/ociimage"
	tools "github.com/gitops-status/gitops-status/internal/tooltest"
)

// imageConfig is the part of an OCI image config the test reads, as
// `skopeo inspect --config` prints it.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User         string              `json:"User"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		Env          []string            `json:"Env"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Volumes      map[string]struct{} `json:"Volumes"`
		Labels       map[string]string   `json:"Labels"`
		StopSignal   string              `json:"StopSignal"`
	} `json:"config"`
}

// TestImage builds the image from the real binary, inspects it with skopeo,
// unpacks it with umoci, and runs the unpacked root filesystem as the
// image's user: the service starts, answers /ready, takes a write, and
// writes nothing outside /data.
func TestImage(t *testing.T) {
	skopeo := tools.Need(t, "skopeo")
	umoci := tools.Need(t, "umoci")
	chroot := tools.Need(t, "chroot")
	tools.NeedRoot(t) // umoci keeps ownership, and chroot, only as root

	dir := t.TempDir()
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cfg := ociimage.Config{
		Binary:   tooltest.Binary(t),
		CACerts:  "/etc/ssl/certs/ca-certificates.crt",
		Version:  tooltest.Version,
		Revision: tooltest.Revision,
		Created:  created,
	}
	if _, err := os.Stat(cfg.CACerts); err != nil {
		tools.Need(t, "update-ca-certificates") // the ca-certificates package
		t.Fatalf("no CA bundle at %s: %v", cfg.CACerts, err)
	}
	img, err := ociimage.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	layoutDir := filepath.Join(dir, "oci")
	if err := ociimage.WriteLayout(layoutDir, cfg.Version, img); err != nil {
		t.Fatal(err)
	}

	// The config, as an independent tool reads it.
	out, err := exec.Command(skopeo, "inspect", "--config", "oci:"+layoutDir+":"+cfg.Version).Output()
	if err != nil {
		t.Fatalf("skopeo inspect --config: %v\n%s", err, stderrOf(err))
	}
	var ic imageConfig
	if err := json.Unmarshal(out, &ic); err != nil {
		t.Fatalf("skopeo's config: %v\n%s", err, out)
	}
	c := ic.Config
	for _, check := range []struct {
		what      string
		got, want any
	}{
		{"architecture", ic.Architecture, "amd64"},
		{"os", ic.OS, "linux"},
		{"user", c.User, "65532:65532"},
		{"entrypoint", c.Entrypoint, []string{"/gitops-status"}},
		{"cmd", c.Cmd, []string{"serve"}},
		{"exposed ports", keys(c.ExposedPorts), []string{"5000/tcp"}},
		{"volumes", keys(c.Volumes), []string{"/data"}},
		{"stop signal", c.StopSignal, "SIGTERM"},
		{"label version", c.Labels["org.opencontainers.image.version"], tooltest.Version},
		{"label revision", c.Labels["org.opencontainers.image.revision"], tooltest.Revision},
		{"label created", c.Labels["org.opencontainers.image.created"], "2026-12-01T10:00:00Z"},
		{"label source", c.Labels["org.opencontainers.image.source"], "https://github.com/gitops-status/gitops-status"},
		{"label licenses", c.Labels["org.opencontainers.image.licenses"], "NOASSERTION"},
		{"label title", c.Labels["org.opencontainers.image.title"], "gitops-status"},
	} {
		if fmt.Sprint(check.got) != fmt.Sprint(check.want) {
			t.Errorf("image %s = %v, want %v", check.what, check.got, check.want)
		}
	}
	if !slices.Contains(c.Env, "GITOPS_STATUS_DATA_DIR=/data") {
		t.Errorf("image env %q lacks GITOPS_STATUS_DATA_DIR=/data", c.Env)
	}

	// Unpacked by umoci, which keeps the layer's owners when run as root.
	bundle := filepath.Join(dir, "bundle")
	if out, err := exec.Command(umoci, "unpack", "--image", layoutDir+":"+cfg.Version, bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	rootfs := filepath.Join(bundle, "rootfs")
	for _, f := range []struct {
		path string
		uid  uint32
		mode fs.FileMode
	}{
		{"/gitops-status", 0, 0o755},
		{"/data", ociimage.UID, fs.ModeDir | 0o700},
		{"/etc/passwd", 0, 0o644},
		{"/etc/ssl/certs/ca-certificates.crt", 0, 0o644},
		{"/tmp", 0, fs.ModeDir | fs.ModeSticky | 0o777},
	} {
		fi, err := os.Lstat(filepath.Join(rootfs, f.path))
		if err != nil {
			t.Errorf("unpacked image: %v", err)
			continue
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != f.uid || fi.Mode() != f.mode {
			t.Errorf("%s: owner %d mode %v, want %d %v", f.path, uid, fi.Mode(), f.uid, f.mode)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
	if !strings.Contains(string(passwd), "gitops:x:65532:65532:") {
		t.Errorf("/etc/passwd has no gitops user:\n%s", passwd)
	}

	// Run as the image runs: its user, entrypoint, cmd and env.
	before := snapshot(t, rootfs)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"--userspec=" + c.User, rootfs}, c.Entrypoint...)
	args = append(append(args, c.Cmd...), "--addr", addr)
	srv := exec.Command(chroot, args...)
	srv.Env = c.Env
	var logs strings.Builder
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	defer func() {
		srv.Process.Kill()
		<-done
	}()
	base := "http://" + addr
	waitReady(t, base+"/ready", done, &logs)

	// The HEALTHCHECK, inside the image, as its user, with its env.
	hc := exec.Command(chroot, "--userspec="+c.User, rootfs, "/gitops-status", "healthcheck", "--addr", fmt.Sprintf(":%d", port))
	hc.Env = c.Env
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("healthcheck inside the image: %v\n%s", err, out)
	}

	body := `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"synced","commit_sha":"abc1234"}`
	resp, err := http.Post(base+"/status/pipeline", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"commit_sha":"abc1234"`) {
		t.Fatalf("POST /status/pipeline: %d %s", resp.StatusCode, b)
	}

	srv.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM\n%s", logs.String())
	}

	fi, err := os.Stat(filepath.Join(rootfs, "data", "status.db"))
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != ociimage.UID {
		t.Errorf("/data/status.db: %v; want it written by uid %d", err, ociimage.UID)
	}
	after := snapshot(t, rootfs)
	for p, was := range before {
		if now, ok := after[p]; !ok || now != was {
			t.Errorf("%s changed outside /data: %q → %q", p, was, now)
		}
	}
	for p, now := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s was created outside /data (%s)", p, now)
		}
	}
}

// snapshot lists every path of rootfs outside /data with its type, mode,
// owner, size and mtime.
func snapshot(t *testing.T, rootfs string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(rootfs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(path, rootfs), "/")
		if rel == "/data" || strings.HasPrefix(rel, "/data/") {
			if d.IsDir() && rel == "/data" {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		m[rel] = fmt.Sprintf("%v %d:%d %d %d", fi.Mode(), st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func waitReady(t *testing.T, url string, done chan error, logs *strings.Builder) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve exited before it was ready: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no 200 from %s within 30s\n%s", url, logs.String())
}

func keys(m map[string]struct{}) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
