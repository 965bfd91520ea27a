package sqlite

import (
	"context"
	"database/sql"

	"github.com/gitops-status/gitops-status/internal/rowargs"
)

// The writer's statements are prepared on its connection and kept: SQLite
// parses and plans a statement each time it is prepared, which costs more
// than running one of these, and the writer, which every write waits for,
// would pay it inside every batch.

// prepareStmts prepares the statements of every update and of the
// writer's transactions.
func (w *writer) prepareStmts(ctx context.Context) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&w.begin, `BEGIN IMMEDIATE`},
		{&w.commit, `COMMIT`},
		{&w.rollback, `ROLLBACK`},
		{&w.savepoint, `SAVEPOINT req`},
		{&w.release, `RELEASE req`},
		{&w.rollbackTo, `ROLLBACK TO req`},
		{&w.get, selectServer + ` WHERE server_group = ? AND host = ?`},
		{&w.upsert, upsertServer},
		{&w.update, updateServer},
		{&w.addEvent, insertEvent},
		{&w.addNotice, insertNotice},
		{&w.del, `DELETE FROM servers WHERE server_group = ? AND host = ?`},
		{&w.prune, `DELETE FROM events WHERE time < ?`},
		{&w.anyServer, `SELECT EXISTS (SELECT 1 FROM servers)`},
		{&w.getMeta, selectMeta},
		{&w.setMeta, upsertMeta},
	} {
		st, err := w.conn.PrepareContext(ctx, p.sql)
		if err != nil {
			w.closeStmts()
			return err
		}
		*p.dst = st
	}
	return nil
}

// maxPartialUpdates bounds the statements updateOf prepares. A pipeline
// or cron update changes one of a few sets of columns, so a handful are
// in use; past the bound, writes set every column.
const maxPartialUpdates = 64

// updateOf returns the prepared UPDATE that sets the columns of changed,
// preparing it the first time; nil when it cannot.
func (w *writer) updateOf(changed rowargs.Set) *sql.Stmt {
	if st, ok := w.updates[changed]; ok {
		return st
	}
	if len(w.updates) >= maxPartialUpdates {
		return nil
	}
	st, err := w.conn.PrepareContext(context.Background(), partialUpdate(changed))
	if err != nil {
		return nil
	}
	if w.updates == nil {
		w.updates = map[rowargs.Set]*sql.Stmt{}
	}
	w.updates[changed] = st
	return st
}

// stmt returns the statement of q, one of the package's constant queries
// for the writes besides updates (the outbox's, deliveries', desired
// heads', stale marks'), preparing it on first use. With a webhook, each
// delivery takes a claim and a finish on the writer, and preparing their
// statements each time was most of what they cost it. The queries are
// constants, so the cache is as large as the package has of them.
func (w *writer) stmt(q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	if w.stmts == nil {
		w.stmts = map[string]*sql.Stmt{}
	}
	w.stmts[q] = st
	return st, nil
}

// exec runs q (see stmt) in the writer's transaction.
func (w *writer) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

// query runs q (see stmt) in the writer's transaction. The caller closes
// the rows before the writer's next statement.
func (w *writer) query(q string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}

func (w *writer) closeStmts() {
	for _, st := range w.updates {
		st.Close()
	}
	for _, st := range w.stmts {
		st.Close()
	}
	for _, st := range []*sql.Stmt{w.begin, w.commit, w.rollback, w.savepoint, w.release, w.rollbackTo,
		w.get, w.upsert, w.update, w.addEvent, w.addNotice, w.del, w.prune, w.anyServer, w.getMeta, w.setMeta} {
		if st != nil {
			st.Close()
		}
	}
}
