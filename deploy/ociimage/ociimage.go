// Package ociimage builds the gitops-status container image without a
// container daemon: one layer on an empty base holding the static binary,
// CA certificates, the non-root user's passwd and group entries and the
// /data directory it owns, with the image config (user, entrypoint, port,
// volume, env, OCI labels) the Dockerfile sets too. Tests compare the two.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What the image is; the Dockerfile must say the same (deploy/dockerfile_test.go).
const (
	UID        = 65532
	UserName   = "gitops"
	User       = "65532:65532"
	Binary     = "/gitops-status"
	DataDir    = "/data"
	Port       = "5000/tcp"
	CACerts    = "/etc/ssl/certs/ca-certificates.crt"
	Source     = "https://github.com/gitops-status/gitops-status"
	Title      = "gitops-status"
	StopSignal = "SIGTERM"
)

// Entrypoint, Cmd and Env of the image.
var (
	Entrypoint = []string{Binary}
	Cmd        = []string{"serve"}
	Env        = []string{"PATH=/", "GITOPS_STATUS_DATA_DIR=" + DataDir}
)

// Config says what goes into the image.
type Config struct {
	// Binary is the path of a static linux gitops-status binary.
	Binary string
	// CACerts is the path of a PEM bundle of CA certificates, usually the
	// build machine's /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// Arch is the binary's GOARCH; "" means amd64.
	Arch string
	// Version, Revision and Created are the OCI labels; Created is also
	// the image's creation time and every file's mtime, so the same inputs
	// give the same image digest.
	Version  string
	Revision string
	Created  time.Time
	// Licenses is the SPDX expression of the labels; "" means NOASSERTION.
	Licenses string
}

// Labels returns the org.opencontainers.image.* labels of c.
func (c Config) Labels() map[string]string {
	lic := c.Licenses
	if lic == "" {
		lic = "NOASSERTION"
	}
	return map[string]string{
		"org.opencontainers.image.title":       Title,
		"org.opencontainers.image.description": "Is every server what git says it should be, and since when?",
		"org.opencontainers.image.version":     c.Version,
		"org.opencontainers.image.revision":    c.Revision,
		"org.opencontainers.image.created":     c.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.licenses":    lic,
	}
}

// Build returns the image c describes.
func Build(c Config) (v1.Image, error) {
	if c.Arch == "" {
		c.Arch = "amd64"
	}
	bin, err := os.ReadFile(c.Binary)
	if err != nil {
		return nil, fmt.Errorf("the binary: %w", err)
	}
	certs, err := os.ReadFile(c.CACerts)
	if err != nil {
		return nil, fmt.Errorf("the CA certificates: %w", err)
	}
	layerTar, err := rootfs(bin, certs, c.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = c.Arch
	cf.OS = "linux"
	cf.Created = v1.Time{Time: c.Created.UTC()}
	cf.Config = v1.Config{
		User:         User,
		Entrypoint:   Entrypoint,
		Cmd:          Cmd,
		Env:          Env,
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{Port: {}},
		Volumes:      map[string]struct{}{DataDir: {}},
		Labels:       c.Labels(),
		StopSignal:   StopSignal,
		Healthcheck: &v1.HealthConfig{
			Test:     []string{"CMD", Binary, "healthcheck"},
			Interval: 30 * time.Second,
			Timeout:  5 * time.Second,
			Retries:  3,
		},
	}
	cf.History = []v1.History{{Created: cf.Created, CreatedBy: "gitops-status deploy/cmd/oci-image", Comment: "binary, CA certificates, user " + UserName}}
	return mutate.ConfigFile(img, cf)
}

// rootfs returns the image's one layer as a tar: every entry owned by root
// but /data, the user's.
func rootfs(bin, certs []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:gitops-status:%s:/sbin/nologin\n", UserName, UID, UID, DataDir)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", UserName, UID)
	entries := []struct {
		name string
		mode int64
		uid  int
		body []byte
		dir  bool
	}{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		// Go's resolver reads it; without it, it guesses the same order.
		{name: "etc/nsswitch.conf", mode: 0o644, body: []byte("hosts: files dns\n")},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: CACerts[1:], mode: 0o644, body: certs},
		// SQLite may spill temporary files there.
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: DataDir[1:] + "/", mode: 0o700, uid: UID, dir: true},
		{name: Binary[1:], mode: 0o755, body: bin},
	}
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mtime.UTC(),
			Typeflag: tar.TypeReg, Size: int64(len(e.body)), Format: tar.FormatPAX,
		}
		if e.uid == UID {
			h.Uname, h.Gname = UserName, UserName
		} else {
			h.Uname, h.Gname = "root", "root"
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout writes img as an OCI image layout in dir, replacing what is
// there, with the tag as its org.opencontainers.image.ref.name, so that
// `skopeo inspect oci:DIR:TAG` and `umoci unpack --image DIR:TAG` find it.
func WriteLayout(dir, tag string, img v1.Image) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
}

// WriteTarball writes img as a `docker load` tarball named ref.
func WriteTarball(file, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(file, tag, img)
}
