package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/auth"
)

// TestBenchTokens: the -tokens file is one the service loads, with 20
// tokens and protected reads, and the benchmark's token may do every
// workload in the groups it seeds.
func TestBenchTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	header, err := writeBenchTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	toks, _, err := auth.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if toks.Len() != 20 || !toks.ReadsProtected() {
		t.Fatalf("%d tokens, reads protected %v; want 20 and protected", toks.Len(), toks.ReadsProtected())
	}
	p := toks.Lookup(strings.TrimPrefix(header, "Bearer "))
	if p == nil || !p.Has(gitops.ScopeAdmin) || !p.MayWriteGroup(groupOf(99)) {
		t.Fatalf("the benchmark's token: %+v", p)
	}
}
