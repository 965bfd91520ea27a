package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `gitops-status: is every server what git says it should be, and since when?

Usage:
  gitops-status serve [flags]       run the HTTP service (default :5000, SQLite in ./data)
  gitops-status import [flags] FILE import a v1 or v2 status.json into the store
  gitops-status export [flags]      write every server as a v2 status.json on stdout
  gitops-status migrate [flags]     apply database migrations and exit
  gitops-status report pipeline|cron [flags] [FILE...]
                                    send a deployment or drift check report
  gitops-status get [flags] [GROUP [HOST]]
                                    show servers: a table, or -o json
  gitops-status hash-token          print the SHA-256 of the token on stdin, for a tokens file
  gitops-status healthcheck [flags] exit 0 when the server on --addr answers GET /ready
  gitops-status version             print the version, commit and build date

Every flag is also an environment variable: --data-dir is GITOPS_STATUS_DATA_DIR.
Run "gitops-status COMMAND -h" for a command's flags.
`

// Run runs the program with args (without the program name) and returns its
// exit code. It is main without the process: tests call it in-process.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, version string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = runServe(ctx, rest, stdout, stderr, version)
	case "import":
		err = runImport(ctx, rest, stdout, stderr)
	case "export":
		err = runExport(ctx, rest, stdout, stderr)
	case "migrate":
		err = runMigrate(ctx, rest, stdout, stderr)
	case "report":
		return runReport(ctx, rest, os.Stdin, stdout, stderr, version)
	case "get":
		return runGet(ctx, rest, stdout, stderr, version)
	case "hash-token":
		err = runHashToken(rest, os.Stdin, stdout, stderr)
	case "healthcheck":
		err = runHealthcheck(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		printVersion(stdout, version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "gitops-status: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "gitops-status: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "gitops-status: %v\n", err)
		return 1
	}
}

// usageError is a mistake in the command line itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
