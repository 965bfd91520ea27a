package sqlite

import (
	"bytes"
	"strings"
	"time"
	"unsafe"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/rowargs"
)

// col is one servers column's value as the writer binds it: text, an
// integer or NULL. The writer keeps a record's columns typed rather than
// boxed in an any: it compares every column of an update with the row's
// previous ones to write only those that changed, and boxing both rows'
// values cost ~25 allocations a write at a large fleet.
type col struct {
	s    string
	i    int64
	kind colKind
}

type colKind uint8

const (
	colNull colKind = iota
	colText
	colInt
)

func text(s string) col   { return col{s: s, kind: colText} }
func integer(i int64) col { return col{i: i, kind: colInt} }

// timeCol is a time as stored: unix microseconds, or NULL when unset.
func timeCol(t time.Time) col {
	if t.IsZero() {
		return col{}
	}
	return integer(t.UnixMicro())
}

// arg is c as a statement argument.
func (c col) arg() any {
	switch c.kind {
	case colText:
		return c.s
	case colInt:
		return c.i
	}
	return nil
}

// staleAfterUS is the stale_after_us column for a stale_after value: NULL
// when the global threshold applies, -1 when the server is never stale,
// else whole microseconds. It mirrors gitops.Server.StaleThreshold, so the
// SQL stale filter and IsStale agree.
func staleAfterUS(s string) col {
	if s == "" {
		return col{}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return col{} // StaleThreshold falls back to the global one too
	}
	if d <= 0 {
		return integer(-1)
	}
	return integer(int64(d / time.Microsecond))
}

// nCols is how many columns a row has before its head: upsertServer's
// arguments are a row's columns, then its head.
const nCols = 27

// row is what upsertServer writes of a record: its columns, in
// argColumns's order, and its head.
type row struct {
	cols [nCols]col
	head []byte
}

// serverRow returns the row of s, whose head is head. The changed_files
// and labels columns share head's bytes, which no one changes once
// written.
func serverRow(s *gitops.Server, head []byte) row {
	imported := int64(0)
	if s.Imported {
		imported = 1
	}
	files, labels, ok := headColumns(head)
	if !ok {
		files, labels = jsonList(s.ChangedFiles), jsonMap(s.Labels)
	}
	return row{head: head, cols: [nCols]col{
		text(s.ServerGroup), text(s.Host), text(s.ProjectName), text(s.RepoName), text(s.ServerType), text(s.Environment),
		text(string(s.Status)), text(files), text(string(s.ValidationStatus)), text(s.ValidationMessage),
		text(s.CommitSHA), text(s.Branch), text(s.UpdatedBy),
		timeCol(s.LastPipelineRun), timeCol(s.LastCronCheck), timeCol(s.Timestamp), timeCol(s.StatusSince),
		text(string(s.LastSource)), text(labels), text(string(s.PipelineStatus)), text(string(s.DriftStatus)), text(s.StaleAfter),
		timeCol(s.PipelineReportedAt), timeCol(s.CronReportedAt), timeCol(s.LegacyWrittenAt), integer(imported),
		staleAfterUS(s.StaleAfter),
	}}
}

// appendArgs appends to dst the arguments of r that are in set, in order
// (position nCols is the head).
func (r *row) appendArgs(dst []any, set rowargs.Set) []any {
	for i := range r.cols {
		if set&(1<<i) != 0 {
			dst = append(dst, r.cols[i].arg())
		}
	}
	if set&(1<<nCols) != 0 {
		dst = append(dst, r.head)
	}
	return dst
}

// changedFrom returns the columns of r, beyond the key, that differ from
// before's (a row of the same key), and the head, whose times move with
// every update.
func (r *row) changedFrom(before *row) rowargs.Set {
	set := rowargs.Set(1) << nCols
	for i := 2; i < nCols; i++ {
		if r.cols[i] != before.cols[i] {
			set |= 1 << i
		}
	}
	return set
}

// argColumns names the column of each upsertServer argument (a row's
// columns, then its head), in order.
var argColumns = append(strings.Split(strings.Join(strings.Fields(serverColumns), ""), ","), "stale_after_us", "head")

// everyArg is every upsertServer argument; allArgs every one but the key.
const (
	everyArg = rowargs.Set(1)<<(nCols+1) - 1
	allArgs  = everyArg &^ 3
)

// updateServer rewrites every column of an existing row. The writer uses
// it when its index says the row exists (a plain UPDATE skips the failed
// insert an upsert tries first) and it does not know what changed.
var updateServer = partialUpdate(allArgs)

// partialUpdate is the UPDATE that sets the columns of set, taking their
// arguments in order and then the key, as writer.writeRow binds them;
// plain ? parameters, since the driver binds numbered ones by name, which
// allocates.
func partialUpdate(set rowargs.Set) string {
	var b strings.Builder
	b.WriteString("UPDATE servers SET ")
	n := 0
	for i, col := range argColumns {
		if set&(1<<i) == 0 {
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		b.WriteString(col + " = ?")
		n++
	}
	// The rowid finds the row without searching the key's index; the key
	// makes an update through a stale rowid change nothing.
	b.WriteString(" WHERE rowid = ? AND server_group = ? AND host = ?")
	return b.String()
}

// headColumns cuts the changed_files and labels columns out of a head:
// AppendJSONHead writes them as encoding/json would (what jsonList and
// jsonMap write), so encoding them again is wasted work. Inside an encoded
// string every '"' is escaped, so a marker that starts with `,"` or ends
// with `":` cannot occur inside one, and the first match is the field
// itself. ok is false when a marker is missing. The strings share head's
// bytes.
func headColumns(head []byte) (files, labels string, ok bool) {
	files, ok = cutBetween(head, `,"changed_files":`, `,"validation_status":`)
	if !ok {
		return "", "", false
	}
	labels, ok = cutBetween(head, `,"labels":`, `,"stale_after":`)
	return files, labels, ok
}

func cutBetween(b []byte, start, end string) (string, bool) {
	i := bytes.Index(b, []byte(start))
	if i < 0 {
		return "", false
	}
	b = b[i+len(start):]
	j := bytes.Index(b, []byte(end))
	if j < 0 {
		return "", false
	}
	if j == 0 {
		return "", true
	}
	// A head is never changed once encoded (index entries share it), so
	// the column can share its bytes instead of copying them.
	return unsafe.String(&b[0], j), true
}
