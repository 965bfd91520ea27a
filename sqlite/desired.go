package sqlite

import (
	"context"
	"database/sql"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// Heads of branches (SPEC §10). The writable store keeps every head in
// memory as one immutable gitops.Heads, published by the writer after the
// transaction that changed it commits and before its caller hears so, as
// the index is: reads compute behind with one map lookup per record and
// never a query. A read-only store reads them with SQL at each read.

const selectHeads = `SELECT repo_name, branch, commit_sha, updated_at, updated_by, reported_at FROM desired_heads`

const upsertHead = `INSERT INTO desired_heads (repo_name, branch, commit_sha, updated_at, updated_by, reported_at)
	VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (repo_name, branch) DO UPDATE SET commit_sha = excluded.commit_sha,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by, reported_at = excluded.reported_at`

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readHeadRows reads every head, sorted.
func readHeadRows(ctx context.Context, q querier) ([]gitops.Head, error) {
	rows, err := q.QueryContext(ctx, selectHeads+` ORDER BY repo_name, branch`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	heads := []gitops.Head{}
	for rows.Next() {
		var h gitops.Head
		var updated int64
		var reported sql.NullInt64
		if err := rows.Scan(&h.RepoName, &h.Branch, &h.CommitSHA, &updated, &h.UpdatedBy, &reported); err != nil {
			return nil, err
		}
		h.UpdatedAt = time.UnixMicro(updated).UTC()
		if reported.Valid {
			h.ReportedAt = time.UnixMicro(reported.Int64).UTC()
		}
		heads = append(heads, h)
	}
	return heads, rows.Err()
}

func headArgs(h *gitops.Head) []any {
	var reported any
	if !h.ReportedAt.IsZero() {
		reported = h.ReportedAt.UnixMicro()
	}
	return []any{h.RepoName, h.Branch, h.CommitSHA, h.UpdatedAt.UnixMicro(), h.UpdatedBy, reported}
}

// currentHeads returns the heads reads compute behind from.
func (s *Store) currentHeads(ctx context.Context) (*gitops.Heads, error) {
	if s.w != nil {
		return s.heads.Load(), nil
	}
	hs, err := readHeadRows(ctx, s.readDB)
	if err != nil {
		return nil, s.readError("reading heads", err)
	}
	return gitops.NewHeads(hs), nil
}

// Heads returns every head sorted by repo_name then branch. Returns
// EUNAVAILABLE, EINTERNAL.
func (s *Store) Heads(ctx context.Context) ([]gitops.Head, error) {
	if s.closed.Load() {
		return nil, errClosed()
	}
	h, err := s.currentHeads(ctx)
	if err != nil {
		return nil, err
	}
	return append([]gitops.Head{}, h.List()...), nil
}

// SetHead sets a head in the writer's transaction. Returns EUNAVAILABLE,
// EINTERNAL.
func (s *Store) SetHead(ctx context.Context, u gitops.SetHead) (gitops.HeadOutcome, error) {
	var out gitops.HeadOutcome
	err := s.write(ctx, func(w *writer) error {
		heads := w.heads()
		var cur *gitops.Head
		for _, h := range heads.List() {
			if h.Key() == u.Key() {
				cur = &h
				break
			}
		}
		out = u.Apply(cur, gitops.Now(s.now()))
		if !out.Applied {
			return nil
		}
		if _, err := w.exec(upsertHead, headArgs(&out.Head)...); err != nil {
			return dbError("setting the head of "+u.Key().String(), err)
		}
		if out.Event != nil {
			if err := w.insertHeadEvent(out.Event); err != nil {
				return err
			}
		}
		w.setHeads(gitops.ReplaceHead(heads.List(), &out.Head, u.Key()))
		return nil
	})
	if err != nil {
		return gitops.HeadOutcome{}, err
	}
	return out, nil
}

// DeleteHead forgets a head. Returns ENOTFOUND, EUNAVAILABLE, EINTERNAL.
func (s *Store) DeleteHead(ctx context.Context, k gitops.HeadKey) error {
	return s.write(ctx, func(w *writer) error {
		res, err := w.exec(`DELETE FROM desired_heads WHERE repo_name = ? AND branch = ?`, k.RepoName, k.Branch)
		if err != nil {
			return dbError("deleting the head of "+k.String(), err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return dbError("deleting the head of "+k.String(), err)
		} else if n == 0 {
			return headNotFound(k)
		}
		w.setHeads(gitops.ReplaceHead(w.heads().List(), nil, k))
		return nil
	})
}

func headNotFound(k gitops.HeadKey) error {
	return gitops.Errorf(gitops.ENOTFOUND, "no head for repo_name %q and branch %q", k.RepoName, k.Branch)
}

// ImportHeads writes heads as given in one transaction. Returns
// EUNAVAILABLE, EINTERNAL.
func (s *Store) ImportHeads(ctx context.Context, heads []gitops.Head) error {
	if len(heads) == 0 {
		return nil
	}
	return s.write(ctx, func(w *writer) error {
		list := w.heads().List()
		for i := range heads {
			h := heads[i]
			h.UpdatedAt, h.ReportedAt = gitops.Now(h.UpdatedAt), truncateMicro(h.ReportedAt)
			if _, err := w.exec(upsertHead, headArgs(&h)...); err != nil {
				return dbError("importing the head of "+h.Key().String(), err)
			}
			list = gitops.ReplaceHead(list, &h, h.Key())
		}
		w.setHeads(list)
		return nil
	})
}

func truncateMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return gitops.Now(t)
}

// noServer is what a desired event, which belongs to no server, stores in
// events.server_group and host, whose CHECK refuses the empty string: no identifier can
// be '-' (they start with a letter or digit), so no filter matches it.
const noServer = "-"

const insertHeadEvent = `INSERT INTO events (time, server_group, host, source, status, previous_status,
	commit_sha, validation_status, changed_files, updated_by, changes, repo_name, branch)
	VALUES (?, '` + noServer + `', '` + noServer + `', ?, '', '', ?, '', '[]', ?, ?, ?, ?)`

// insertHeadEvent writes a desired event in the running transaction and
// sets its id.
func (w *writer) insertHeadEvent(e *gitops.Event) error {
	changes := make([]string, len(e.Changes))
	for i, c := range e.Changes {
		changes[i] = string(c)
	}
	res, err := w.exec(insertHeadEvent, e.Time.UnixMicro(), string(e.Source),
		e.CommitSHA, e.UpdatedBy, jsonList(changes), e.RepoName, e.Branch)
	if err != nil {
		return dbError("writing the desired event", err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return dbError("writing the desired event", err)
	}
	return nil
}

// heads returns the heads as the batch so far left them.
func (w *writer) heads() *gitops.Heads {
	switch {
	case w.reqHeads != nil:
		return w.reqHeads
	case w.pendingHeads != nil:
		return w.pendingHeads
	}
	return w.s.heads.Load()
}

// setHeads records the running request's new heads, published when the
// batch commits.
func (w *writer) setHeads(list []gitops.Head) { w.reqHeads = gitops.NewHeads(list) }

// loadHeads reads the heads on the writer's connection at open.
func loadHeads(ctx context.Context, conn *sql.Conn) (*gitops.Heads, error) {
	hs, err := readHeadRows(ctx, conn)
	if err != nil {
		return nil, err
	}
	return gitops.NewHeads(hs), nil
}
