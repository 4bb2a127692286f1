package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/tandem-data/tandem"
)

func (s *MetaStore) ClaimRun(ctx context.Context, r *tandem.Run) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var last sql.NullString
	err = tx.QueryRowContext(ctx, `select last_scheduled from job_state where job = ?`, r.Job).Scan(&last)
	if err != nil && err != sql.ErrNoRows {
		return false, err
	}
	if prev := parseTS(last); !prev.IsZero() && !r.ScheduledFor.After(prev) {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `insert into job_state (job, last_scheduled) values (?, ?)
		on conflict (job) do update set last_scheduled = excluded.last_scheduled`, r.Job, ts(r.ScheduledFor)); err != nil {
		return false, err
	}
	r.Status = tandem.StatusQueued
	if _, err := tx.ExecContext(ctx, `insert into runs (id, command, args, started_by, status, started_at, job, scheduled_for, trigger_)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Command, r.Args, r.StartedBy, string(r.Status), ts(r.StartedAt), r.Job, ts(r.ScheduledFor), r.Trigger); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

func (s *MetaStore) LastScheduled(ctx context.Context, job string) (time.Time, error) {
	var last sql.NullString
	err := s.db.QueryRowContext(ctx, `select last_scheduled from job_state where job = ?`, job).Scan(&last)
	if err == sql.ErrNoRows {
		return time.Time{}, nil
	}
	return parseTS(last), err
}

func (s *MetaStore) RegisterJob(ctx context.Context, job string, at time.Time) (time.Time, error) {
	if _, err := s.db.ExecContext(ctx, `insert into job_state (job, last_scheduled) values (?, ?)
		on conflict (job) do update set last_scheduled = coalesce(last_scheduled, excluded.last_scheduled)`, job, ts(at)); err != nil {
		return time.Time{}, err
	}
	return s.LastScheduled(ctx, job)
}

func (s *MetaStore) SkipTo(ctx context.Context, job string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `update job_state set last_scheduled = ? where job = ? and (last_scheduled is null or last_scheduled < ?)`,
		ts(at), job, ts(at))
	return err
}

func (s *MetaStore) DataMark(ctx context.Context, job string) (string, error) {
	var mark string
	err := s.db.QueryRowContext(ctx, `select data_mark from job_state where job = ?`, job).Scan(&mark)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return mark, err
}

func (s *MetaStore) SetDataMark(ctx context.Context, job, mark string) error {
	_, err := s.db.ExecContext(ctx, `insert into job_state (job, data_mark) values (?, ?)
		on conflict (job) do update set data_mark = excluded.data_mark`, job, mark)
	return err
}

func (s *MetaStore) SaveInterval(ctx context.Context, iv *tandem.Interval) error {
	_, err := s.db.ExecContext(ctx, `insert into backfill_intervals (backfill, node, start, "end", status, run_id, rows, message, finished_at)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?)
		on conflict (backfill, start) do update set status = excluded.status, run_id = excluded.run_id, rows = excluded.rows,
		message = excluded.message, finished_at = excluded.finished_at`,
		iv.Backfill, iv.Node, ts(iv.Start), ts(iv.End), string(iv.Status), iv.RunID, iv.Rows, iv.Message, ts(iv.FinishedAt))
	return err
}

func (s *MetaStore) Intervals(ctx context.Context, backfill string) ([]*tandem.Interval, error) {
	rows, err := s.db.QueryContext(ctx, `select backfill, node, start, "end", status, run_id, rows, message, finished_at
		from backfill_intervals where backfill = ? order by start`, backfill)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*tandem.Interval
	for rows.Next() {
		var iv tandem.Interval
		var start, end, fin sql.NullString
		var status string
		if err := rows.Scan(&iv.Backfill, &iv.Node, &start, &end, &status, &iv.RunID, &iv.Rows, &iv.Message, &fin); err != nil {
			return nil, err
		}
		iv.Start, iv.End, iv.FinishedAt, iv.Status = parseTS(start), parseTS(end), parseTS(fin), tandem.Status(status)
		out = append(out, &iv)
	}
	return out, rows.Err()
}

func (s *MetaStore) CreateToken(ctx context.Context, t *tandem.Token) error {
	_, err := s.db.ExecContext(ctx, `insert into tokens (id, name, role, hash, created_at) values (?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Role, t.Hash, ts(t.CreatedAt))
	return err
}

func (s *MetaStore) FindToken(ctx context.Context, hash string) (*tandem.Token, error) {
	var t tandem.Token
	var created sql.NullString
	err := s.db.QueryRowContext(ctx, `select id, name, role, hash, created_at from tokens where hash = ?`, hash).
		Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created)
	if err == sql.ErrNoRows {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no such token")
	} else if err != nil {
		return nil, err
	}
	t.CreatedAt = parseTS(created)
	return &t, nil
}

func (s *MetaStore) Tokens(ctx context.Context) ([]*tandem.Token, error) {
	rows, err := s.db.QueryContext(ctx, `select id, name, role, hash, created_at from tokens order by created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*tandem.Token
	for rows.Next() {
		var t tandem.Token
		var created sql.NullString
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created); err != nil {
			return nil, err
		}
		t.CreatedAt = parseTS(created)
		out = append(out, &t)
	}
	return out, rows.Err()
}

func (s *MetaStore) DeleteToken(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `delete from tokens where id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tandem.Errorf(tandem.ENOTFOUND, "token %s not found", id)
	}
	return nil
}

func (s *MetaStore) CreateSession(ctx context.Context, ss *tandem.Session) error {
	_, err := s.db.ExecContext(ctx, `insert into sessions (hash, token_id, created_at, expires_at) values (?, ?, ?, ?)`,
		ss.Hash, ss.TokenID, ts(ss.CreatedAt), ts(ss.ExpiresAt))
	return err
}

func (s *MetaStore) FindSession(ctx context.Context, hash string, now time.Time) (*tandem.Session, *tandem.Token, error) {
	var ss tandem.Session
	var t tandem.Token
	var created, expires, tcreated sql.NullString
	err := s.db.QueryRowContext(ctx, `select s.hash, s.token_id, s.created_at, s.expires_at, t.id, t.name, t.role, t.hash, t.created_at
		from sessions s join tokens t on t.id = s.token_id where s.hash = ?`, hash).
		Scan(&ss.Hash, &ss.TokenID, &created, &expires, &t.ID, &t.Name, &t.Role, &t.Hash, &tcreated)
	if err == sql.ErrNoRows {
		return nil, nil, tandem.Errorf(tandem.ENOTFOUND, "no such session")
	} else if err != nil {
		return nil, nil, err
	}
	ss.CreatedAt, ss.ExpiresAt, t.CreatedAt = parseTS(created), parseTS(expires), parseTS(tcreated)
	if !now.Before(ss.ExpiresAt) {
		s.db.ExecContext(ctx, `delete from sessions where hash = ?`, hash)
		return nil, nil, tandem.Errorf(tandem.ENOTFOUND, "the session expired")
	}
	return &ss, &t, nil
}

func (s *MetaStore) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.db.ExecContext(ctx, `delete from sessions where hash = ?`, hash)
	return err
}

func (s *MetaStore) AddAudit(ctx context.Context, e *tandem.AuditEntry) error {
	_, err := s.db.ExecContext(ctx, `insert into audit (at, actor, action, target, detail) values (?, ?, ?, ?, ?)`,
		ts(e.At), e.Actor, e.Action, e.Target, e.Detail)
	return err
}

func (s *MetaStore) Audit(ctx context.Context, limit int) ([]*tandem.AuditEntry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `select at, actor, action, target, detail from audit order by seq desc limit ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*tandem.AuditEntry
	for rows.Next() {
		var e tandem.AuditEntry
		var at sql.NullString
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, err
		}
		e.At = parseTS(at)
		out = append(out, &e)
	}
	return out, rows.Err()
}

func (s *MetaStore) OpenIncident(ctx context.Context, inc *tandem.Incident) (bool, error) {
	res, err := s.db.ExecContext(ctx, `insert into incidents (key, owner, summary, opened_at) values (?, ?, ?, ?) on conflict do nothing`,
		inc.Key, inc.Owner, inc.Summary, ts(inc.OpenedAt))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func (s *MetaStore) CloseIncident(ctx context.Context, key string, at time.Time) (*tandem.Incident, error) {
	var inc tandem.Incident
	var opened sql.NullString
	err := s.db.QueryRowContext(ctx, `update incidents set closed_at = ? where key = ? and closed_at is null
		returning key, owner, summary, opened_at`, ts(at), key).Scan(&inc.Key, &inc.Owner, &inc.Summary, &opened)
	if err == sql.ErrNoRows {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	inc.OpenedAt, inc.ClosedAt = parseTS(opened), at
	return &inc, nil
}

func (s *MetaStore) Incidents(ctx context.Context, openOnly bool) ([]*tandem.Incident, error) {
	q := `select key, owner, summary, opened_at, closed_at from incidents`
	if openOnly {
		q += ` where closed_at is null`
	}
	rows, err := s.db.QueryContext(ctx, q+` order by opened_at desc limit 500`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*tandem.Incident
	for rows.Next() {
		var inc tandem.Incident
		var opened, closed sql.NullString
		if err := rows.Scan(&inc.Key, &inc.Owner, &inc.Summary, &opened, &closed); err != nil {
			return nil, err
		}
		inc.OpenedAt, inc.ClosedAt = parseTS(opened), parseTS(closed)
		out = append(out, &inc)
	}
	return out, rows.Err()
}

func (s *MetaStore) ClockAnchor(ctx context.Context, start, now time.Time) (time.Time, error) {
	if _, err := s.db.ExecContext(ctx, `insert into clock_anchors (start, anchor) values (?, ?) on conflict (start) do nothing`,
		ts(start), ts(now)); err != nil {
		return time.Time{}, err
	}
	var anchor sql.NullString
	err := s.db.QueryRowContext(ctx, `select anchor from clock_anchors where start = ?`, ts(start)).Scan(&anchor)
	return parseTS(anchor), err
}
