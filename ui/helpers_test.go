package ui

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/sqlite"
)

// t0 is the clock of every test.
var t0 = time.Date(2026, 4, 26, 10, 30, 0, 0, time.UTC)

// mustOpenStore opens a SQLite store in tb's temporary directory, whose
// clock is t0.
func mustOpenStore(tb testing.TB) gitops.Store {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "status.db"), gitops.StoreOptions{
		Now: func() time.Time { return t0 }, StaleAfter: 24 * time.Hour,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// syntheticFleet returns n servers in groups of 100, sorted by group and
// host as Store.List returns them, with every status and some unset times.
func syntheticFleet(n int) []gitops.Server {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	statuses := []gitops.Status{gitops.StatusSynced, gitops.StatusSynced, gitops.StatusSynced, gitops.StatusOutOfSync, gitops.StatusFailed, gitops.StatusUnknown}
	out := make([]gitops.Server, n)
	for i := range out {
		pipeline := t0.Add(-time.Duration(rng.Int64N(int64(20 * 24 * time.Hour))))
		s := gitops.Server{
			ServerGroup:       fmt.Sprintf("group-%03d", i/100),
			Host:              fmt.Sprintf("host-%05d", i),
			ProjectName:       "gitops-for-servers",
			RepoName:          "rsyslog",
			ServerType:        []string{"rsyslog", "nginx", "splunk"}[i%3],
			Environment:       []string{"prod", "staging"}[i%2],
			Status:            statuses[rng.IntN(len(statuses))],
			ChangedFiles:      []string{"/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"}[:rng.IntN(3)],
			ValidationStatus:  gitops.ValidationPassed,
			ValidationMessage: "rsyslogd -N1 ok",
			CommitSHA:         fmt.Sprintf("%040x", rng.Uint64()),
			Branch:            "master",
			UpdatedBy:         "woodpecker",
			LastPipelineRun:   pipeline,
			Timestamp:         pipeline,
			StatusSince:       pipeline,
			LastSource:        gitops.SourcePipeline,
			Labels:            map[string]string{"datacenter": "fra1"},
			PipelineStatus:    gitops.StatusSynced,
		}
		if i%7 != 0 {
			s.LastCronCheck = t0.Add(-time.Duration(rng.Int64N(int64(time.Hour))))
		}
		s.Stale = s.IsStale(t0, 24*time.Hour)
		out[i] = s
	}
	return out
}

func mustQuery(s string) url.Values {
	v, err := url.ParseQuery(s)
	if err != nil {
		panic(err)
	}
	return v
}

// noStore is a store that is never read.
type noStore struct{ gitops.Store }
