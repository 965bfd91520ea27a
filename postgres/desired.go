package postgres

import (
	"context"
	"errors"
	"strings"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Heads of branches (SPEC §10). A head write takes the next change number
// (bumpCounter), as server writes do, and records it in
// desired_heads_version; the cache's refresh statement reads every head
// whenever that number is above the cache's (headRows), so a replica sees a
// head another replica set as soon as it would see a record that replica
// wrote. Heads are few, so reading them all on a change is cheap, and
// reads compute behind from the copy in memory with one lookup per record.

// Row kinds of the refresh statement beyond those of cache.go.
const (
	kindHeadsVersion = 3 // change: the number of the last head change
	kindHead         = 4 // a head, in the columns headColumnOf names
)

// headColumnOf maps refresh columns to the desired_heads column read into
// them (scanned into a gitops.Server, read back by headOfRow).
var headColumnOf = map[string]string{
	"repo_name": "repo_name", "branch": "branch", "commit_sha": "commit_sha", "updated_by": "updated_by",
	`"timestamp"`: "updated_at", "pipeline_reported_at": "reported_at",
}

// headRows is the part of the refresh statement that reads the heads:
// the version row and every head, when the version is above $1 (delta) or
// always (full).
func headRows(delta bool) string {
	var version, head strings.Builder
	for i, col := range cachedColumns {
		if i > 0 {
			version.WriteString(", ")
			head.WriteString(", ")
		}
		version.WriteString(col.empty)
		if h, ok := headColumnOf[col.name]; ok {
			head.WriteString(h)
		} else {
			head.WriteString(col.empty)
		}
	}
	cond, vcond := "", ""
	if delta {
		cond = ` WHERE (SELECT change FROM desired_heads_version) > $1`
		vcond = ` WHERE change > $1`
	}
	return `
	UNION ALL
	SELECT ` + version.String() + `, NULL, change, 3, 0 FROM desired_heads_version` + vcond + `
	UNION ALL
	SELECT ` + head.String() + `, NULL, 0, 4, 0 FROM desired_heads` + cond
}

// headOfRow is the head a kindHead row scanned into sv.
func headOfRow(sv *gitops.Server) gitops.Head {
	return gitops.Head{RepoName: sv.RepoName, Branch: sv.Branch, CommitSHA: sv.CommitSHA,
		UpdatedAt: sv.Timestamp, UpdatedBy: sv.UpdatedBy, ReportedAt: sv.PipelineReportedAt}
}

// heads returns the heads as of the cache's last refresh or publish.
func (c *cache) heads() *gitops.Heads { return c.headSet.Load() }

// publishHeads puts the heads a transaction of this store committed with
// change number n into the cache when the cache is at n-1, as publishOwn
// does for servers; otherwise the next refresh reads them.
func (c *cache) publishHeads(n int64, set func(old []gitops.Head) []gitops.Head) {
	c.pub.Lock()
	defer c.pub.Unlock()
	if c.n < 0 || n != c.n+1 {
		return
	}
	c.headSet.Store(gitops.NewHeads(set(c.heads().List())))
	c.n = n
	c.drainPending()
}

// syncedHeads returns the heads with every write acknowledged before the
// call, by any replica.
func (s *Store) syncedHeads(ctx context.Context) (*gitops.Heads, error) {
	if s.closed.Load() {
		return nil, errClosed()
	}
	if err := s.sync(ctx); err != nil {
		return nil, err
	}
	return s.cache.heads(), nil
}

// Heads returns every head sorted by repo_name then branch, after bringing
// the cache up to date. Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) Heads(ctx context.Context) ([]gitops.Head, error) {
	h, err := s.syncedHeads(ctx)
	if err != nil {
		return nil, err
	}
	return append([]gitops.Head{}, h.List()...), nil
}

const upsertHead = `INSERT INTO desired_heads (repo_name, branch, commit_sha, updated_at, updated_by, reported_at)
	VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (repo_name, branch) DO UPDATE SET commit_sha = excluded.commit_sha,
		updated_at = excluded.updated_at, updated_by = excluded.updated_by, reported_at = excluded.reported_at`

// insertHeadEvent writes a desired event: source git, the head's fields,
// server_group, host and status empty.
const insertHeadEvent = `INSERT INTO events ("time", server_group, host, source, status, previous_status,
	commit_sha, validation_status, changed_files, updated_by, changes, repo_name, branch)
	VALUES ($1, '', '', $2, '', '', $3, '', '{}', $4, $5, $6, $7) RETURNING id`

const setHeadsVersion = `UPDATE desired_heads_version SET change = $1 WHERE id = true`

func headArgs(h *gitops.Head) []any {
	return []any{h.RepoName, h.Branch, h.CommitSHA, ts(h.UpdatedAt), h.UpdatedBy, ts(h.ReportedAt)}
}

// SetHead sets a head in one transaction. It takes the change number
// first: the counter row's lock orders every head write (and every server
// write), so the head read next is the current one and no two sets of one
// key interleave. Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) SetHead(ctx context.Context, u gitops.SetHead) (gitops.HeadOutcome, error) {
	if s.closed.Load() {
		return gitops.HeadOutcome{}, errClosed()
	}
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	var out gitops.HeadOutcome
	var change int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := scanCounter(tx.QueryRow(ctx, bumpCounter), &change); err != nil {
			return err
		}
		var cur *gitops.Head
		var h gitops.Head
		var updated, reported pgtype.Timestamptz
		err := tx.QueryRow(ctx, `SELECT commit_sha, updated_at, updated_by, reported_at FROM desired_heads
			WHERE repo_name = $1 AND branch = $2`, u.RepoName, u.Branch).Scan(&h.CommitSHA, &updated, &h.UpdatedBy, &reported)
		switch {
		case err == nil:
			h.RepoName, h.Branch, h.UpdatedAt, h.ReportedAt = u.RepoName, u.Branch, fromTS(updated), fromTS(reported)
			cur = &h
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		out = u.Apply(cur, s.clock())
		if !out.Applied {
			return errSkip
		}
		if _, err := tx.Exec(ctx, upsertHead, headArgs(&out.Head)...); err != nil {
			return err
		}
		if e := out.Event; e != nil {
			changes := make([]string, len(e.Changes))
			for i, c := range e.Changes {
				changes[i] = string(c)
			}
			if err := tx.QueryRow(ctx, insertHeadEvent, ts(e.Time.Time), string(e.Source), e.CommitSHA, e.UpdatedBy,
				changes, e.RepoName, e.Branch).Scan(&e.ID); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, setHeadsVersion, change)
		return err
	})
	if errors.Is(err, errSkip) {
		return out, nil
	}
	if err != nil {
		return gitops.HeadOutcome{}, s.err("setting the head of "+u.Key().String(), err)
	}
	k := u.Key()
	s.cache.publishHeads(change, func(old []gitops.Head) []gitops.Head { return gitops.ReplaceHead(old, &out.Head, k) })
	return out, nil
}

// DeleteHead forgets a head. Returns ENOTFOUND, EUNAVAILABLE, EINTERNAL.
func (s *Store) DeleteHead(ctx context.Context, k gitops.HeadKey) error {
	if s.closed.Load() {
		return errClosed()
	}
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	var change int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := scanCounter(tx.QueryRow(ctx, bumpCounter), &change); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM desired_heads WHERE repo_name = $1 AND branch = $2`, k.RepoName, k.Branch)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errSkip
		}
		_, err = tx.Exec(ctx, setHeadsVersion, change)
		return err
	})
	if errors.Is(err, errSkip) {
		return gitops.Errorf(gitops.ENOTFOUND, "no head for repo_name %q and branch %q", k.RepoName, k.Branch)
	}
	if err != nil {
		return s.err("deleting the head of "+k.String(), err)
	}
	s.cache.publishHeads(change, func(old []gitops.Head) []gitops.Head { return gitops.ReplaceHead(old, nil, k) })
	return nil
}

// ImportHeads writes heads as given in one transaction. Returns
// EUNAVAILABLE, EINTERNAL.
func (s *Store) ImportHeads(ctx context.Context, heads []gitops.Head) error {
	if s.closed.Load() {
		return errClosed()
	}
	if len(heads) == 0 {
		return nil
	}
	var change int64
	written := make([]gitops.Head, len(heads))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := scanCounter(tx.QueryRow(ctx, bumpCounter), &change); err != nil {
			return err
		}
		for i := range heads {
			h := heads[i]
			h.UpdatedAt = gitops.Now(h.UpdatedAt)
			if !h.ReportedAt.IsZero() {
				h.ReportedAt = gitops.Now(h.ReportedAt)
			}
			if _, err := tx.Exec(ctx, upsertHead, headArgs(&h)...); err != nil {
				return err
			}
			written[i] = h
		}
		_, err := tx.Exec(ctx, setHeadsVersion, change)
		return err
	})
	if err != nil {
		return s.err("importing heads", err)
	}
	s.cache.publishHeads(change, func(old []gitops.Head) []gitops.Head {
		for i := range written {
			old = gitops.ReplaceHead(old, &written[i], written[i].Key())
		}
		return old
	})
	return nil
}
