package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at build time by make build/release and the Dockerfile:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=<sha> -X main.date=<RFC 3339>"
//
// They are never written at run time.
var (
	version string
	commit  string
	date    string
)

// buildInfo says which build a binary is.
type buildInfo struct {
	Version string // release version, "dev" when unknown
	Commit  string // git commit, "unknown" when unknown; "-dirty" when built from a modified tree
	Date    string // build (or commit) time, RFC 3339; "unknown" when unknown
}

// readBuildInfo returns the -ldflags stamps, filling what they leave empty
// from the build information the Go toolchain embeds: the module version
// (go install …@v1.2.3) and the VCS revision and commit time (go build in a
// git checkout).
func readBuildInfo() buildInfo {
	bi := buildInfo{Version: version, Commit: commit, Date: date}
	if info, ok := debug.ReadBuildInfo(); ok {
		if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if bi.Commit == "" {
					bi.Commit = s.Value
				}
			case "vcs.time":
				if bi.Date == "" {
					bi.Date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && bi.Commit != "" {
			bi.Commit += "-dirty"
		}
	}
	if bi.Version == "" {
		bi.Version = "dev"
	}
	if bi.Commit == "" {
		bi.Commit = "unknown"
	}
	if bi.Date == "" {
		bi.Date = "unknown"
	}
	return bi
}

// printVersion writes the answer of gitops-status version: the version on
// the first line (scripts read it with head -1), then commit, build date
// and toolchain.
func printVersion(w io.Writer, v string) {
	bi := readBuildInfo()
	bi.Version = v
	fmt.Fprintf(w, "gitops-status %s\ncommit: %s\nbuilt:  %s\ngo:     %s %s/%s\n",
		bi.Version, bi.Commit, bi.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
