package index

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// fleetEntries builds the entries of n servers like the fleet benchmark's
// (bench/load): 100 groups, four server types, three environments, three
// changed files, each head in an allocation of its own size, as a store's.
func fleetEntries(n int) []*Entry {
	in := NewInterner()
	types := []string{"rsyslog", "splunk", "itnm", "nginx"}
	envs := []string{"prod", "staging", "dev"}
	now := gitops.Now(time.Now())
	out := make([]*Entry, n)
	for i := range out {
		typ, env, group := types[i%len(types)], envs[(i/7)%len(envs)], fmt.Sprintf("grp-%03d", i%100)
		sv := gitops.Server{
			ProjectName: "infra-" + typ, RepoName: "ansible-" + typ, ServerGroup: group, ServerType: typ,
			Environment: env, Host: fmt.Sprintf("host-%06d", i), Status: gitops.StatusSynced,
			ChangedFiles:     []string{"roles/" + typ + "/tasks/main.yml", "inventories/" + env + "/group_vars/" + group + ".yml"},
			ValidationStatus: gitops.ValidationPassed, ValidationMessage: "ansible-lint: 0 failures, 0 warnings",
			CommitSHA: fmt.Sprintf("%040x", i), Branch: "main", UpdatedBy: "woodpecker",
			LastPipelineRun: now, LastCronCheck: now, Timestamp: now, StatusSince: now, LastSource: gitops.SourceCron,
			PipelineStatus: gitops.StatusSynced, DriftStatus: gitops.StatusSynced, PipelineReportedAt: now, CronReportedAt: now,
		}
		out[i] = in.NewEntry(&sv, slices.Clip(sv.AppendJSONHead(nil)))
	}
	return out
}

// BenchmarkCollect is one garbage collection of a process that holds an
// index of 400,000 servers and nothing else: the marking every cycle of a
// large fleet's service pays for the index, whatever else it does. Run it
// with GOMAXPROCS=2 to match the fleet benchmark's machine.
func BenchmarkCollect(b *testing.B) {
	x := New(fleetEntries(400000))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(ms.HeapObjects), "objects")
	runtime.KeepAlive(x)
}

// BenchmarkGet looks servers up by key in an index of 400,000, in a
// scattered order, and reads the head's first byte, as reads of one
// server and the writer do (so the entry's cache misses are counted
// whether the lookup or its caller pays them).
func BenchmarkGet(b *testing.B) {
	es := fleetEntries(400000)
	x := New(slices.Clone(es))
	keys := make([]gitops.Key, len(es))
	for i, e := range es {
		keys[(i*7919)%len(keys)] = e.Key()
	}
	i := 0
	for b.Loop() {
		if e := x.Get(keys[i]); e == nil || e.Head()[0] != '{' {
			b.Fatal("a stored server was not found")
		}
		i = (i + 1) % len(keys)
	}
}
