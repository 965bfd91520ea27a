package postgres

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/rowargs"
)

// column is one argument of a row write (serverColumnList but head and
// change, in order): the value a record gives it, and whether two records
// give it the same value, which an update asks of every column before it
// sends only those that changed. Comparing the records' fields rather than
// both records' boxed arguments spares a write two rows of allocations
// (~1.6 KB a write at 300,000 servers, where the GC marking a large cache
// is a good part of the service's CPU).
type column struct {
	arg  func(s *gitops.Server) any
	same func(a, b *gitops.Server) bool
}

// headArg is the head's position among a row write's arguments (the
// columns, then the head).
const headArg = 27

// columns are the row write's arguments before the head.
var columns = [headArg]column{
	text(func(s *gitops.Server) string { return s.ServerGroup }),
	text(func(s *gitops.Server) string { return s.Host }),
	text(func(s *gitops.Server) string { return s.ProjectName }),
	text(func(s *gitops.Server) string { return s.RepoName }),
	text(func(s *gitops.Server) string { return s.ServerType }),
	text(func(s *gitops.Server) string { return s.Environment }),
	text(func(s *gitops.Server) string { return string(s.Status) }),
	{
		arg:  func(s *gitops.Server) any { return nonNilList(s.ChangedFiles) },
		same: func(a, b *gitops.Server) bool { return slices.Equal(a.ChangedFiles, b.ChangedFiles) },
	},
	text(func(s *gitops.Server) string { return string(s.ValidationStatus) }),
	text(func(s *gitops.Server) string { return s.ValidationMessage }),
	text(func(s *gitops.Server) string { return s.CommitSHA }),
	text(func(s *gitops.Server) string { return s.Branch }),
	text(func(s *gitops.Server) string { return s.UpdatedBy }),
	timestamp(func(s *gitops.Server) time.Time { return s.LastPipelineRun }),
	timestamp(func(s *gitops.Server) time.Time { return s.LastCronCheck }),
	timestamp(func(s *gitops.Server) time.Time { return s.Timestamp }),
	timestamp(func(s *gitops.Server) time.Time { return s.StatusSince }),
	text(func(s *gitops.Server) string { return string(s.LastSource) }),
	{
		// The labels' JSON is a function of the map: equal maps, equal
		// text (a nil map and an empty one are both {}).
		arg:  func(s *gitops.Server) any { return gitops.AppendJSONLabels(nil, s.Labels) },
		same: func(a, b *gitops.Server) bool { return maps.Equal(a.Labels, b.Labels) },
	},
	text(func(s *gitops.Server) string { return string(s.PipelineStatus) }),
	text(func(s *gitops.Server) string { return string(s.DriftStatus) }),
	text(func(s *gitops.Server) string { return s.StaleAfter }),
	timestamp(func(s *gitops.Server) time.Time { return s.PipelineReportedAt }),
	timestamp(func(s *gitops.Server) time.Time { return s.CronReportedAt }),
	timestamp(func(s *gitops.Server) time.Time { return s.LegacyWrittenAt }),
	{
		arg:  func(s *gitops.Server) any { return s.Imported },
		same: func(a, b *gitops.Server) bool { return a.Imported == b.Imported },
	},
	{
		// stale_after_ns is derived from stale_after.
		arg:  func(s *gitops.Server) any { return staleAfterNS(s.StaleAfter) },
		same: func(a, b *gitops.Server) bool { return a.StaleAfter == b.StaleAfter },
	},
}

func text(f func(s *gitops.Server) string) column {
	return column{
		arg:  func(s *gitops.Server) any { return f(s) },
		same: func(a, b *gitops.Server) bool { return f(a) == f(b) },
	}
}

// timestamp is a time column: NULL when unset (see ts).
func timestamp(f func(s *gitops.Server) time.Time) column {
	return column{
		arg: func(s *gitops.Server) any { return ts(f(s)) },
		same: func(a, b *gitops.Server) bool {
			ta, tb := f(a), f(b)
			return ta.IsZero() == tb.IsZero() && ta.Equal(tb)
		},
	}
}

// serverArgs are the insertServer arguments but the head, and the COPY row
// but head and change, for s, in serverColumnList order.
func serverArgs(s *gitops.Server) []any {
	args := make([]any, len(columns), len(columns)+2)
	for i, c := range columns {
		args[i] = c.arg(s)
	}
	return args
}

// changedColumns returns the set of a row write's arguments in which after
// differs from before, with the head, which is always written (its times
// move with every update). The key is never in it.
func changedColumns(before, after *gitops.Server) rowargs.Set {
	set := rowargs.Set(1) << headArg
	for i := 2; i < headArg; i++ {
		if !columns[i].same(before, after) {
			set |= 1 << i
		}
	}
	return set
}

// updateArgs are partialUpdate(set)'s arguments for s with its head: the
// key, then the columns of set in order.
func updateArgs(set rowargs.Set, s *gitops.Server, head []byte) []any {
	args := make([]any, 2, 3+bits.OnesCount32(uint32(set)))
	args[0], args[1] = s.ServerGroup, s.Host
	for i := 2; i < headArg; i++ {
		if set&(1<<i) != 0 {
			args = append(args, columns[i].arg(s))
		}
	}
	return append(args, head)
}

// partialUpdate is the UPDATE of an existing row that sets the columns of
// set, keyed on $1, $2, its other arguments in order; it stamps the row
// with the transaction's change number and returns the transaction's id.
// An update sets only what it changed: fewer values to send and bind
// (on the development machine, ~4 % more writes per second).
func partialUpdate(set rowargs.Set) string {
	var b strings.Builder
	b.WriteString("UPDATE servers SET ")
	n := 3
	for i := 2; i <= headArg; i++ {
		if set&(1<<i) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%q = $%d, ", serverColumnList[i], n)
		n++
	}
	b.WriteString("change = " + changeSetting + " WHERE server_group = $1 AND host = $2 RETURNING pg_current_xact_id()::text")
	return b.String()
}
