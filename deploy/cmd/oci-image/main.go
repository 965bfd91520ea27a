// Command oci-image builds the gitops-status container image without a
// container daemon (make oci): an OCI image layout directory and,
// optionally, a `docker load` tarball.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gitops-status/gitops-status/deploy/ociimage"
)

func main() {
	var c ociimage.Config
	flag.StringVar(&c.Binary, "binary", "", "static linux gitops-status binary (required)")
	flag.StringVar(&c.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA certificates to ship")
	flag.StringVar(&c.Arch, "arch", "amd64", "GOARCH of the binary")
	flag.StringVar(&c.Version, "version", "dev", "org.opencontainers.image.version, and the tag")
	flag.StringVar(&c.Revision, "revision", "unknown", "org.opencontainers.image.revision (git commit)")
	flag.StringVar(&c.Licenses, "licenses", "NOASSERTION", "org.opencontainers.image.licenses (SPDX)")
	created := flag.String("created", "", "creation time, RFC 3339 (default: now); also every file's mtime")
	out := flag.String("out", "oci", "OCI image layout directory to write (replaced)")
	tar := flag.String("tar", "", "also write a `docker load` tarball here")
	repo := flag.String("repository", "gitops-status", "repository of the tarball's tag")
	flag.Parse()
	if err := run(c, *created, *out, *tar, *repo); err != nil {
		fmt.Fprintln(os.Stderr, "oci-image:", err)
		os.Exit(1)
	}
}

func run(c ociimage.Config, created, out, tar, repo string) error {
	if c.Binary == "" {
		return fmt.Errorf("-binary is required")
	}
	c.Created = time.Now().UTC().Truncate(time.Second)
	if created != "" {
		t, err := time.Parse(time.RFC3339, created)
		if err != nil {
			return fmt.Errorf("-created: %v", err)
		}
		c.Created = t
	}
	img, err := ociimage.Build(c)
	if err != nil {
		return err
	}
	if err := ociimage.WriteLayout(out, c.Version, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s:%s (%s)\n", out, c.Version, digest)
	if tar != "" {
		if err := ociimage.WriteTarball(tar, repo+":"+c.Version, img); err != nil {
			return err
		}
		fmt.Printf("wrote %s (docker load -i %s)\n", tar, tar)
	}
	return nil
}
