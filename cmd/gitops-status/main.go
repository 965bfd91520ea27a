// Command gitops-status tells, for every server managed from git, whether it
// is what git says it should be, and since when.
//
// Usage:
//
//	gitops-status serve [flags]     run the HTTP service
//	gitops-status import FILE       import a v1 or v2 status.json
//	gitops-status export            write the v2 document on stdout
//	gitops-status migrate           apply database migrations and exit
//	gitops-status hash-token        print the SHA-256 of the token on stdin
//	gitops-status version           print the version
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, buildVersion())
	stop()
	os.Exit(code)
}

// buildVersion is the -ldflags version, else the module version the binary
// was built from, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
