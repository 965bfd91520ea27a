package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/sqlite"
)

// benchClients is how many concurrent callers per GOMAXPROCS the write
// benchmarks simulate: HTTP handlers from many pipelines and cron checks,
// far more than the machine has cores.
const benchClients = 32

func benchHost(i int) string { return fmt.Sprintf("host-%05d", i) }

// seededStore opens a store in a new file holding n servers in one group,
// written through Import as a first start would.
func seededStore(b *testing.B, n int) *sqlite.Store {
	b.Helper()
	return mustOpen(b, seededFile(b, n), gitops.StoreOptions{StaleAfter: time.Hour})
}

// seededFile is seededStore's file, closed.
func seededFile(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "status.db")
	s, err := sqlite.Open(path, gitops.StoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	now := gitops.Now(time.Now())
	servers := make([]gitops.Server, n)
	for i := range servers {
		servers[i] = gitops.Server{
			ServerGroup: "rsyslog-prod", Host: benchHost(i), ProjectName: "infra", RepoName: "rsyslog-config",
			ServerType: "rsyslog", Environment: "prod", Status: gitops.StatusSynced,
			ChangedFiles:     []string{"rsyslog.conf", "rsyslog.d/50-remote.conf", "rsyslog.d/10-local.conf"},
			ValidationStatus: gitops.ValidationPassed, CommitSHA: fmt.Sprintf("%040x", i), Branch: "main",
			UpdatedBy: "woodpecker", LastPipelineRun: now, Timestamp: now, StatusSince: now,
			LastSource: gitops.SourcePipeline, PipelineStatus: gitops.StatusSynced,
			Labels: map[string]string{"datacenter": "dc1"}, Imported: true,
		}
	}
	if _, err := s.Import(context.Background(), servers, gitops.ImportReplace); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchWrites runs b.N updates from many concurrent callers, each on the
// next host in turn, so concurrent updates touch distinct servers.
func benchWrites(b *testing.B, servers, clientsPerProc int, update func(host string, i int64) gitops.Update) {
	benchWritesTo(b, seededStore(b, servers), servers, clientsPerProc, update)
}

// benchWritesTo is benchWrites on s, which holds servers servers.
func benchWritesTo(b *testing.B, s *sqlite.Store, servers, clientsPerProc int, update func(host string, i int64) gitops.Update) {
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(clientsPerProc)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if _, err := s.Apply(ctx, update(benchHost(int(i%int64(servers))), i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkApplyPipelineParallel measures durable pipeline updates, each
// a realistic deploy report (new commit, three changed files) that writes
// an event, against 1,000 and 10,000 stored servers.
func BenchmarkApplyPipelineParallel(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			benchWrites(b, n, benchClients, pipelineUpdate)
		})
	}
}

// BenchmarkApplyPipelineFewClients is BenchmarkApplyPipelineParallel with
// one caller per GOMAXPROCS: batches stay tiny, so it measures the
// latency of a durable commit (an fsync) rather than throughput.
func BenchmarkApplyPipelineFewClients(b *testing.B) {
	benchWrites(b, 10000, 1, pipelineUpdate)
}

func pipelineUpdate(host string, i int64) gitops.Update {
	return &gitops.PipelineUpdate{
		Source: gitops.SourcePipeline, ServerGroup: "rsyslog-prod", Host: host,
		ProjectName: "infra", RepoName: "rsyslog-config", ServerType: "rsyslog", Environment: "prod",
		Status:           gitops.StatusSynced,
		ChangedFiles:     []string{"rsyslog.conf", "rsyslog.d/50-remote.conf", "rsyslog.d/10-local.conf"},
		ValidationStatus: gitops.ValidationPassed, ValidationMessage: "rsyslogd -N1 ok",
		CommitSHA: fmt.Sprintf("%040x", i), Branch: "main", UpdatedBy: "woodpecker",
		Labels: map[string]string{"datacenter": "dc1"},
	}
}

// BenchmarkApplyCronParallel measures durable drift checks; one in ten
// reports drift, so most repeat the state and write no event, as in
// production.
func BenchmarkApplyCronParallel(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			benchWrites(b, n, benchClients, func(host string, i int64) gitops.Update {
				u := &gitops.CronUpdate{ServerGroup: "rsyslog-prod", Host: host, Status: gitops.StatusSynced,
					ChangedFiles: []string{"rsyslog.conf", "rsyslog.d/50-remote.conf", "rsyslog.d/10-local.conf"}}
				if i%10 == 0 {
					u.Status, u.ChangedFiles = gitops.StatusOutOfSync, []string{"rsyslog.conf"}
				}
				return u
			})
		})
	}
}

// BenchmarkApplyTransitions measures drift checks that each change their
// server's status (out of sync, then synced again), so every write is a
// transition a webhook may want: with the outbox on, as when a webhook is
// configured, and off, as when none is.
func BenchmarkApplyTransitions(b *testing.B) {
	const n = 10000
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprintf("outbox=%t", on), func(b *testing.B) {
			s := seededStore(b, n)
			s.KeepOutbox(on)
			benchWritesTo(b, s, n, benchClients, func(host string, i int64) gitops.Update {
				u := &gitops.CronUpdate{ServerGroup: "rsyslog-prod", Host: host, Status: gitops.StatusOutOfSync,
					ChangedFiles: []string{"rsyslog.conf"}}
				if i/n%2 == 1 {
					u.Status, u.ChangedFiles = gitops.StatusSynced, nil
				}
				return u
			})
		})
	}
}

// BenchmarkGet measures parallel reads of one server among 10,000.
func BenchmarkGet(b *testing.B) {
	const n = 10000
	s := seededStore(b, n)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(7919) // a prime stride spreads reads over the table
			if _, err := s.Get(ctx, gitops.Key{ServerGroup: "rsyslog-prod", Host: benchHost(int(i % n))}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkList10k measures listing every one of 10,000 servers, as
// Grafana's GET /status does.
func BenchmarkList10k(b *testing.B) {
	s := seededStore(b, 10000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l, _, err := s.List(ctx, gitops.Filter{})
		if err != nil || len(l) != 10000 {
			b.Fatalf("List: %d servers, %v", len(l), err)
		}
	}
}

// BenchmarkGetEncoded measures parallel encoded reads of one server among
// 10,000, as GET /status/{group}/{host} makes them: from the index.
func BenchmarkGetEncoded(b *testing.B) {
	const n = 10000
	s := seededStore(b, n)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(7919)
			if _, err := s.GetEncoded(ctx, gitops.Key{ServerGroup: "rsyslog-prod", Host: benchHost(int(i % n))}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkListEncoded10k measures listing every one of 10,000 servers
// encoded, as GET /status does with an EncodedReader, and writing the
// answer's bytes.
func BenchmarkListEncoded10k(b *testing.B) {
	s := seededStore(b, 10000)
	ctx := context.Background()
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l, _, err := s.ListEncoded(ctx, gitops.Filter{})
		if err != nil || len(l) != 10000 {
			b.Fatalf("ListEncoded: %d servers, %v", len(l), err)
		}
		buf = buf[:0]
		for i := range l {
			buf = l[i].AppendJSON(buf)
		}
	}
	b.ReportMetric(float64(len(buf))/(1<<20), "MiB/answer")
}

// BenchmarkListEncodedGroup measures one group's 100 servers among 10,000
// (GET /status/{group}), which the index finds by binary search.
func BenchmarkListEncodedGroup(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "status.db"), gitops.StoreOptions{StaleAfter: time.Hour})
	servers := make([]gitops.Server, 10000)
	for i := range servers {
		servers[i] = gitops.Server{ServerGroup: fmt.Sprintf("grp-%03d", i%100), Host: benchHost(i),
			Status: gitops.StatusSynced, ValidationStatus: gitops.ValidationPassed, Timestamp: time.Now()}
	}
	if _, err := s.Import(context.Background(), servers, gitops.ImportReplace); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l, _, err := s.ListEncoded(ctx, gitops.Filter{ServerGroup: []string{"grp-042"}})
		if err != nil || len(l) != 100 {
			b.Fatalf("ListEncoded: %d servers, %v", len(l), err)
		}
	}
}

// BenchmarkOpen100k measures opening a store of 100,000 servers, which
// loads the index: most of the time from start to ready.
func BenchmarkOpen100k(b *testing.B) {
	path := seededFile(b, 100000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, err := sqlite.Open(path, gitops.StoreOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// storeWithDeliveries opens a store in a new file with n deliveries of
// webhook "hook" pending, one per server, each due now.
func storeWithDeliveries(b *testing.B, n int) *sqlite.Store {
	b.Helper()
	s := mustOpen(b, filepath.Join(b.TempDir(), "status.db"), gitops.StoreOptions{})
	ctx := context.Background()
	// Concurrent callers share the writer's batches and their syncs.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				no := gitops.Notice{Event: gitops.Event{ServerGroup: "g", Host: benchHost(int(i)), Status: gitops.StatusFailed}}
				if _, err := s.AddReminder(ctx, "hook", fmt.Sprint(i), no); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return s
}

// BenchmarkClaimWithBacklog claims 16 deliveries of a webhook that has
// 10,000 pending, one per server, as after a receiver was slower than the
// fleet's changes. A zero lease leaves the same 16 to claim again.
func BenchmarkClaimWithBacklog(b *testing.B) {
	s := storeWithDeliveries(b, 10000)
	ctx := context.Background()
	now := time.Now().Add(time.Minute)
	b.ResetTimer()
	for b.Loop() {
		ds, err := s.ClaimDeliveries(ctx, "hook", now, 0, 16)
		if err != nil || len(ds) != 16 {
			b.Fatalf("claimed %d, %v; want 16", len(ds), err)
		}
	}
}

// BenchmarkDeliveryCycle is what a webhook's deliveries cost the writer:
// a claim of 16 and, from 16 callers at once as the dispatcher's workers
// finish them, each one recorded. Each is recorded for a retry due at
// once, so the next claim takes the same 16 again. cpu-ns is the
// process's CPU a delivery, claim included.
func BenchmarkDeliveryCycle(b *testing.B) {
	const claim = 16
	s := storeWithDeliveries(b, claim)
	ctx := context.Background()
	now := time.Now().Add(time.Minute)
	cpu0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		ds, err := s.ClaimDeliveries(ctx, "hook", now, 0, claim)
		if err != nil || len(ds) != claim {
			b.Fatalf("claimed %d, %v; want %d", len(ds), err, claim)
		}
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() {
				if err := s.FinishDelivery(ctx, d.ID, gitops.DeliveryRetry, now, "503 Service Unavailable"); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*claim), "cpu-ns/delivery")
}
