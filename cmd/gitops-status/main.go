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
//	gitops-status healthcheck       exit 0 when the local server is ready
//	gitops-status version           print the version, commit and build date
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, readBuildInfo().Version)
	stop()
	os.Exit(code)
}
