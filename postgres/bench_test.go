package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
)

const benchServers = 10_000

// benchParallelism × GOMAXPROCS goroutines run the parallel benchmarks: a
// database-bound store needs many requests in flight, as an HTTP server
// has.
const benchParallelism = 16

// benchStore opens a store on a fresh database holding n servers.
func benchStore(b *testing.B, n int) *postgres.Store {
	b.Helper()
	s := MustOpenStore(b, pgtest.NewDatabase(b), gitops.StoreOptions{})
	if n > 0 {
		if _, err := s.Import(context.Background(), testServers(n, "bench"), gitops.ImportReplace); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func host(i int) string { return fmt.Sprintf("host-%06d", i) }

// BenchmarkApplyPipelineParallel: pipeline reports on random servers among
// 10,000, each with a new commit, so each writes its event too.
func BenchmarkApplyPipelineParallel(b *testing.B) {
	s := benchStore(b, benchServers)
	var seq atomic.Int64
	b.SetParallelism(benchParallelism)
	defer reportMachineCPU(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			if _, err := s.Apply(context.Background(), pipeline("bench", host(rand.IntN(benchServers)), fmt.Sprint(n))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// reportMachineCPU reports, when the returned function is called, the CPU
// time the whole machine spent per operation since (PostgreSQL's backends
// included, which the benchmark's own CPU time leaves out), as
// machine-cpu-µs/op. On a shared machine wall time per operation varies
// with what else runs; this varies less. Linux only: elsewhere it reports
// nothing.
func reportMachineCPU(b *testing.B) func() {
	start, ok := machineCPU()
	return func() {
		end, ok2 := machineCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64((end-start).Microseconds())/float64(b.N), "machine-cpu-µs/op")
		}
	}
}

// machineCPU is the CPU time all processors spent busy (user, nice,
// system, irq, softirq), from /proc/stat.
func machineCPU() (time.Duration, bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += v
	}
	// USER_HZ is 100 on every Linux platform Go supports.
	return time.Duration(ticks) * 10 * time.Millisecond, true
}

// BenchmarkApplyCronParallel: drift checks repeating the same state on
// random servers: the row is rewritten, no event.
func BenchmarkApplyCronParallel(b *testing.B) {
	s := benchStore(b, benchServers)
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Apply(context.Background(), cron("bench", host(rand.IntN(benchServers)), gitops.StatusSynced, "/etc/f")); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkApplyOneServerParallel: every update on one server, the worst
// case for row locking: they queue on the row.
func BenchmarkApplyOneServerParallel(b *testing.B) {
	s := benchStore(b, 1)
	var seq atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			var u gitops.Update = pipeline("bench", host(0), fmt.Sprint(n))
			if n%2 == 0 {
				u = cron("bench", host(0), gitops.StatusOutOfSync, fmt.Sprint(n))
			}
			if _, err := s.Apply(context.Background(), u); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkApplySerial: one update at a time, i.e. the latency of one.
func BenchmarkApplySerial(b *testing.B) {
	s := benchStore(b, benchServers)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Apply(context.Background(), pipeline("bench", host(i%benchServers), fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	s := benchStore(b, benchServers)
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(context.Background(), gitops.Key{ServerGroup: "bench", Host: host(rand.IntN(benchServers))}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkListAll10k: GET /status as Grafana asks it, every server.
func BenchmarkListAll10k(b *testing.B) {
	s := benchStore(b, benchServers)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l, _, err := s.List(context.Background(), gitops.Filter{})
		if err != nil || len(l) != benchServers {
			b.Fatal(len(l), err)
		}
	}
}

// BenchmarkListPageStale: a page of stale servers with its total.
func BenchmarkListPageStale(b *testing.B) {
	s := benchStore(b, benchServers)
	stale := false
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := s.List(context.Background(), gitops.Filter{Stale: &stale, Limit: 50, Offset: 5000}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImportFirstStart100k: a first-start import of 100,000 servers
// into an empty database (COPY).
func BenchmarkImportFirstStart100k(b *testing.B) {
	servers := testServers(100_000, "imp")
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := MustOpenStore(b, pgtest.NewDatabase(b), gitops.StoreOptions{})
		b.StartTimer()
		ok, err := s.Import(context.Background(), servers, gitops.ImportFirstStart)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkImportReplace100k: `gitops-status import` of 100,000 servers
// over existing ones (COPY to a scratch table, then upsert).
func BenchmarkImportReplace100k(b *testing.B) {
	s := benchStore(b, 0)
	servers := testServers(100_000, "imp")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Import(context.Background(), servers, gitops.ImportReplace); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyPipelineTwoReplicas is BenchmarkApplyPipelineParallel
// through two stores on one database, as two replicas: their transactions
// contend for rows only rarely, but every write transaction takes the one
// change counter (see cache.go), so their commits take turns.
func BenchmarkApplyPipelineTwoReplicas(b *testing.B) {
	url := pgtest.NewDatabase(b)
	stores := []*postgres.Store{
		MustOpenStore(b, url, gitops.StoreOptions{}),
		MustOpenStore(b, url, gitops.StoreOptions{}),
	}
	if _, err := stores[0].Import(context.Background(), testServers(benchServers, "bench"), gitops.ImportReplace); err != nil {
		b.Fatal(err)
	}
	var seq, worker atomic.Int64
	b.SetParallelism(benchParallelism)
	defer reportMachineCPU(b)()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		s := stores[worker.Add(1)%2]
		for pb.Next() {
			n := seq.Add(1)
			if _, err := s.Apply(context.Background(), pipeline("bench", host(rand.IntN(benchServers)), fmt.Sprint(n))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
