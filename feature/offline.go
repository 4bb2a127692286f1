package feature

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/project"
)

// HistoricalRequest asks for a training set: the entity rows (join keys,
// a timestamp, any label columns) and the features to attach to each row
// as known at its timestamp.
type HistoricalRequest struct {
	EntitiesFile string // a CSV or Parquet file
	EntitiesSQL  string // or a query
	// EntitiesRows, or rows given inline (the API): column -> values.
	EntitiesRows    []map[string]any
	TimestampColumn string // event_timestamp by default, as in Feast
	Refs            []Ref
	Service         string // a feature service instead of Refs
	// FullFeatureNames names columns view__feature, as Feast does.
	FullFeatureNames bool
	// FilterCreated leaves out rows created after the entity's timestamp.
	FilterCreated bool
	Out           string // .parquet or .csv; empty: return the rows
	Limit         int    // rows returned when Out is empty (0: all)
}

// TrainingSet says what produced a training set, so it can be rebuilt.
type TrainingSet struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	Features      []string  `json:"features"`
	Service       string    `json:"service,omitempty"`
	FullNames     bool      `json:"full_feature_names"`
	FilterCreated bool      `json:"filter_created"`
	Entities      string    `json:"entities"` // the file or SQL
	EntitiesHash  string    `json:"entities_hash"`
	TimestampCol  string    `json:"timestamp_column"`
	// EntitiesCopy is the entity rows as read, kept next to the record
	// (Parquet): a query or file that changes later does not stop a rebuild.
	EntitiesCopy string          `json:"entities_copy,omitempty"`
	EntityRows   int64           `json:"entity_rows"`
	Definitions  json.RawMessage `json:"definitions"` // the views used, as loaded
	DefsHash     string          `json:"definitions_sha256"`
	Sources      []SourceVersion `json:"sources"`
	Out          string          `json:"out,omitempty"`
	Rows         int64           `json:"rows"`
	// OutFingerprint is the written file's row count and content hash:
	// a rebuild that prints the same one is the same training set.
	OutFingerprint string  `json:"out_fingerprint,omitempty"`
	Seconds        float64 `json:"seconds"`
}

// SourceVersion is the state of a table a training set read.
type SourceVersion struct {
	View     string    `json:"view"`
	Relation string    `json:"relation"`
	Rows     int64     `json:"rows"`
	Version  int       `json:"version,omitempty"` // the latest kept table version, when the source is a built model
	BuiltAt  time.Time `json:"built_at,omitzero"` // when that version was published
	MaxEvent string    `json:"max_event_ts"`
	// Fingerprint is the row count and an order-independent hash of the
	// rows (DuckDB's hash of each row, summed): how a rebuild finds the
	// same rows among the live table and its kept versions.
	Fingerprint string `json:"fingerprint"`
}

// Store builds training sets and materializes views.
type Store struct {
	Project   *project.Project
	Registry  *Registry
	Warehouse tandem.Warehouse
	Meta      tandem.MetaStore // table versions, for lineage (optional)
	Online    tandem.OnlineStore
	Dir       string // where training set records go (target/training_sets)
	Clock     tandem.Clock
	Streams   *Streams // stream views online (tandem serve)
}

const rowCol = "__tandem_row"
const tsCol = "__tandem_ts"

// Historical builds a training set. With Out it writes the file and
// returns no rows; without, it returns the rows.
func (s *Store) Historical(ctx context.Context, req *HistoricalRequest) (*TrainingSet, *tandem.Rows, error) {
	start := time.Now()
	refs := req.Refs
	if req.Service != "" {
		svc, ok := s.Registry.Services[req.Service]
		if !ok {
			return nil, nil, tandem.Errorf(tandem.ENOTFOUND, "no feature service %q%s", req.Service, project.Suggest(req.Service, sorted.Keys(s.Registry.Services)))
		}
		refs = svc.Refs
	}
	if len(refs) == 0 {
		return nil, nil, tandem.Errorf(tandem.EINVALID, "name the features (--features view:feature,...) or a feature service (--service)")
	}
	if req.TimestampColumn == "" {
		req.TimestampColumn = "event_timestamp"
	}
	if req.EntitiesSQL != "" {
		if err := OneSelect(ctx, s.Warehouse, req.EntitiesSQL); err != nil {
			return nil, nil, err
		}
	}
	entitySrc, cleanup, err := s.entitySource(req)
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	ts := &TrainingSet{CreatedAt: s.now(), Service: req.Service, FullNames: req.FullFeatureNames, FilterCreated: req.FilterCreated, Out: req.Out, TimestampCol: req.TimestampColumn}
	for _, r := range refs {
		ts.Features = append(ts.Features, r.String())
	}
	// The entity rows are copied first: their rowid is their input order.
	// A committed scratch table, not a temporary one in a transaction: DuckDB
	// joins transaction-local rows some 30 times slower.
	var rnd [6]byte
	rand.Read(rnd[:])
	ent := `"main"."__tandem_entities_` + hex.EncodeToString(rnd[:]) + `"`
	if _, err := s.Warehouse.Exec(ctx, "create table "+ent+" as select * from "+entitySrc); err != nil {
		return nil, nil, tandem.Errorf(tandem.EINVALID, "cannot read the entity rows: %v", tandem.ErrorMessage(err))
	}
	defer s.Warehouse.Exec(context.WithoutCancel(ctx), "drop table if exists "+ent)
	var rows *tandem.Rows
	err = func() error {
		tx := s.Warehouse
		cols, err := tx.Query(ctx, "describe "+ent, 0)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		var names []string
		for _, r := range cols.Rows {
			have[fmt.Sprint(r[0])] = true
			names = append(names, fmt.Sprint(r[0]))
		}
		if !have[req.TimestampColumn] {
			return tandem.Errorf(tandem.EINVALID, "the entity rows have no timestamp column %q (columns: %s); name it with --timestamp-column", req.TimestampColumn, strings.Join(names, ", "))
		}
		views := viewsOf(refs)
		for _, vn := range views {
			for _, k := range s.Registry.Views[vn].Keys {
				if !have[k] {
					return tandem.Errorf(tandem.EINVALID, "feature view %q joins on %q, which the entity rows lack (columns: %s)", vn, k, strings.Join(names, ", "))
				}
			}
		}
		sql, err := s.historicalSQL(req, refs, names, ent)
		if err != nil {
			return err
		}
		if err := s.lineage(ctx, tx, ts, views, req, ent); err != nil {
			return err
		}
		if s.Dir != "" {
			if err := os.MkdirAll(s.Dir, 0o755); err != nil {
				return err
			}
			ts.EntitiesCopy = filepath.Join(s.Dir, ts.ID+".entities.parquet")
			if _, err := tx.Exec(ctx, fmt.Sprintf("copy (select * from %s order by rowid) to %s (format parquet)", ent, project.QuoteString(ts.EntitiesCopy))); err != nil {
				return err
			}
		}
		if req.Out != "" {
			format := "parquet"
			switch strings.ToLower(filepath.Ext(req.Out)) {
			case ".csv":
				format = "csv, header true"
			case ".parquet":
			default:
				return tandem.Errorf(tandem.EINVALID, "--out %s: write .parquet or .csv", req.Out)
			}
			n, err := tx.Exec(ctx, fmt.Sprintf("copy (%s) to %s (format %s)", sql, project.QuoteString(req.Out), format))
			if err != nil {
				return err
			}
			ts.Rows = n
			if ts.OutFingerprint, err = fingerprint(ctx, tx, readFile(req.Out)); err != nil {
				return err
			}
		} else {
			if rows, err = tx.Query(ctx, sql, req.Limit); err != nil {
				return err
			}
			ts.Rows = int64(len(rows.Rows))
		}
		return nil
	}()
	if err != nil {
		return nil, nil, err
	}
	ts.Seconds = time.Since(start).Seconds()
	if err := s.record(ts); err != nil {
		return nil, nil, err
	}
	return ts, rows, nil
}

func (s *Store) now() time.Time {
	if s.Clock != nil {
		return s.Clock().UTC()
	}
	return time.Now().UTC()
}

// entitySource is what SQL reads the entity rows from.
func (s *Store) entitySource(req *HistoricalRequest) (string, func(), error) {
	none := func() {}
	n := 0
	for _, set := range []bool{req.EntitiesFile != "", req.EntitiesSQL != "", req.EntitiesRows != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return "", none, tandem.Errorf(tandem.EINVALID, "give the entity rows one way: a file (--entities), a query (--entities-sql) or rows")
	}
	switch {
	case req.EntitiesFile != "":
		if _, err := os.Stat(req.EntitiesFile); err != nil {
			return "", none, tandem.Errorf(tandem.EINVALID, "entity rows: %v", err)
		}
		q := project.QuoteString(req.EntitiesFile)
		switch strings.ToLower(filepath.Ext(req.EntitiesFile)) {
		case ".parquet":
			return "read_parquet(" + q + ")", none, nil
		case ".csv":
			return "read_csv(" + q + ", header = true)", none, nil
		}
		return "", none, tandem.Errorf(tandem.EINVALID, "entity rows: %s is not .csv or .parquet", req.EntitiesFile)
	case req.EntitiesSQL != "":
		return "(" + req.EntitiesSQL + "\n)", none, nil
	}
	if len(req.EntitiesRows) == 0 {
		return "", none, tandem.Errorf(tandem.EINVALID, "no entity rows")
	}
	// Staged beside the training sets: a sandboxed warehouse reads there.
	if s.Dir != "" {
		if err := os.MkdirAll(s.Dir, 0o700); err != nil {
			return "", none, err
		}
	}
	f, err := os.CreateTemp(s.Dir, "tandem-entities-*.ndjson")
	if err != nil {
		return "", none, err
	}
	enc := json.NewEncoder(f)
	for _, r := range req.EntitiesRows {
		if err := enc.Encode(r); err != nil {
			f.Close()
			os.Remove(f.Name())
			return "", none, err
		}
	}
	f.Close()
	return fmt.Sprintf("read_json(%s, format = 'newline_delimited')", project.QuoteString(f.Name())), func() { os.Remove(f.Name()) }, nil
}

func viewsOf(refs []Ref) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range refs {
		if !seen[r.View] {
			seen[r.View] = true
			out = append(out, r.View)
		}
	}
	return out
}

func q(s string) string { return project.QuoteIdent(s) }

// historicalSQL is the point-in-time join. For each view, the candidates
// of an entity row are the rows with its keys and event_ts <= entity_ts
// (and >= entity_ts - ttl); the greatest event_ts wins, ties going to the
// greatest created timestamp. Without --filter-created this is an ASOF
// join against the view with one row per key and event_ts (the one
// created last); with it, a windowed join, since which rows are
// candidates then depends on each entity row.
func (s *Store) historicalSQL(req *HistoricalRequest, refs []Ref, entityCols []string, ent string) (string, error) {
	var ctes, joins, selects []string
	ctes = append(ctes, fmt.Sprintf("__e as (select *, rowid as %s, %s::TIMESTAMP as %s from %s)", rowCol, q(req.TimestampColumn), tsCol, ent))
	for _, c := range entityCols {
		selects = append(selects, "e."+q(c))
	}
	byView := map[string][]string{}
	for _, r := range refs {
		byView[r.View] = append(byView[r.View], r.Feature)
	}
	outNames := map[string]string{}
	for _, c := range entityCols {
		outNames[c] = "the entity rows"
	}
	for i, vn := range viewsOf(refs) {
		v := s.Registry.Views[vn]
		alias := fmt.Sprintf("v%d", i)
		feats := byView[vn]
		// exprs: each feature's SQL, set below by the view's kind.
		exprs := map[string]string{}
		addSelects := func() error {
			for _, f := range feats {
				name := f
				if req.FullFeatureNames {
					name = vn + "__" + f
				}
				if prev, dup := outNames[name]; dup {
					return tandem.Errorf(tandem.EINVALID, "two columns would be called %q (%s and view %s); use --full-feature-names", name, prev, vn)
				}
				outNames[name] = "view " + vn
				selects = append(selects, fmt.Sprintf("%s as %s", exprs[f], q(name)))
			}
			return nil
		}
		if v.Stream != nil {
			cte, join := streamSQL(v, alias, feats, exprs)
			ctes = append(ctes, cte...)
			joins = append(joins, join)
			if err := addSelects(); err != nil {
				return "", err
			}
			continue
		}
		var keyCols []string
		var on []string
		for _, k := range v.Keys {
			keyCols = append(keyCols, q(k))
			on = append(on, fmt.Sprintf("e.%s = %s.%s", q(k), alias, q(k)))
		}
		var featCols []string
		for _, f := range feats {
			featCols = append(featCols, q(f))
		}
		base := fmt.Sprintf("select %s, %s::TIMESTAMP as __ts, %s as __created, %s from %s where %s is not null",
			strings.Join(keyCols, ", "), q(v.Timestamp), createdSQL(v), strings.Join(featCols, ", "), v.Relation, q(v.Timestamp))
		ttl := ""
		if v.TTL > 0 {
			ttl = fmt.Sprintf("%%s.__ts >= e.%s - to_microseconds(%d)", tsCol, v.TTL.Microseconds())
		}
		if !req.FilterCreated {
			// One row per key and event time, by the total order of
			// tieBreak, before the ASOF join (which would take any).
			ctes = append(ctes, fmt.Sprintf("__%s as (%s qualify row_number() over (partition by %s, __ts order by %s) = 1)",
				alias, base, strings.Join(keyCols, ", "), tieBreak(featCols)))
			joins = append(joins, fmt.Sprintf("asof left join __%s %s on %s and e.%s >= %s.__ts", alias, alias, strings.Join(on, " and "), tsCol, alias))
			// The ASOF match is the latest row at or before entity_ts; when
			// it is older than the ttl, every candidate is: no value.
			for _, f := range feats {
				exprs[f] = fmt.Sprintf("%s.%s", alias, q(f))
				if ttl != "" {
					exprs[f] = fmt.Sprintf("case when %s then %s.%s end", fmt.Sprintf(ttl, alias), alias, q(f))
				}
			}
			if err := addSelects(); err != nil {
				return "", err
			}
			continue
		}
		conds := []string{strings.ReplaceAll(strings.Join(on, " and "), alias+".", "c."), "c.__ts <= e." + tsCol, "(c.__created is null or c.__created <= e." + tsCol + ")"}
		if ttl != "" {
			conds = append(conds, fmt.Sprintf(ttl, "c"))
		}
		var cfeats []string
		for _, f := range feats {
			cfeats = append(cfeats, "c."+q(f))
		}
		ctes = append(ctes, fmt.Sprintf("__%s_rows as (%s)", alias, base),
			fmt.Sprintf("__%s as (select e.%s, %s from __e e join __%s_rows c on %s qualify row_number() over (partition by e.%s order by c.__ts desc, %s) = 1)",
				alias, rowCol, strings.Join(cfeats, ", "), alias, strings.Join(conds, " and "), rowCol, strings.ReplaceAll(tieBreak(cfeats), "__created", "c.__created")))
		joins = append(joins, fmt.Sprintf("left join __%s %s on e.%s = %s.%s", alias, alias, rowCol, alias, rowCol))
		for _, f := range feats {
			exprs[f] = alias + "." + q(f)
		}
		if err := addSelects(); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("with %s select %s from __e e %s order by e.%s", strings.Join(ctes, ",\n"), strings.Join(selects, ", "), strings.Join(joins, "\n"), rowCol), nil
}

// streamSQL computes a stream view's aggregates for each entity row over
// the events of its windows: (entity_ts - window, entity_ts].
func streamSQL(v *View, alias string, feats []string, exprs map[string]string) ([]string, string) {
	st := v.Stream
	key, _ := parseField(st.Key)
	want := map[string]bool{}
	for _, f := range feats {
		want[f] = true
	}
	var evCols []string
	for i, a := range st.Aggregations {
		if a.Function != "count" {
			c, _ := parseField(a.Column)
			expr := c.sql()
			if a.Function != "last_distinct" {
				expr = "try_cast(" + expr + " as DOUBLE)"
			}
			evCols = append(evCols, fmt.Sprintf("%s as __c%d", expr, i))
		}
	}
	evSelect := fmt.Sprintf("select %s as __key, \"timestamp\"::TIMESTAMP as __ts%s from %s where type = 'track' and event = %s",
		key.sql(), prefixComma(evCols), v.Relation, project.QuoteString(st.Event))
	maxW := st.maxWindow()
	in := func(w time.Duration) string {
		return fmt.Sprintf("x.__ts > e.%s - to_microseconds(%d)", tsCol, w.Microseconds())
	}
	var aggs []string
	ctes := []string{fmt.Sprintf("__%s_ev as (%s)", alias, evSelect),
		fmt.Sprintf("__%s_m as (select e.%s, e.%s, x.* from __e e join __%s_ev x on x.__key = e.%s::VARCHAR and x.__ts <= e.%s and %s)",
			alias, rowCol, tsCol, alias, q(v.Keys[0]), tsCol, in(maxW))}
	for i, a := range st.Aggregations {
		if !want[a.Name] {
			continue
		}
		filter := fmt.Sprintf("filter (where %s)", strings.ReplaceAll(in(a.Window), "e.", "x."))
		switch a.Function {
		case "count":
			aggs = append(aggs, fmt.Sprintf("count(*) %s as %s", filter, q(a.Name)))
		case "sum", "min", "max":
			aggs = append(aggs, fmt.Sprintf("%s(__c%d) %s as %s", a.Function, i, filter, q(a.Name)))
		case "mean":
			aggs = append(aggs, fmt.Sprintf("avg(__c%d) %s as %s", i, filter, q(a.Name)))
		case "last_distinct":
			// The N most recent distinct values, most recent first (ties by value).
			cte := fmt.Sprintf("__%s_l%d", alias, i)
			ctes = append(ctes, fmt.Sprintf(`%s as (select %s, list(v order by t desc, v asc)[1:%d] as %s from (
				select x.%s, x.__c%d as v, max(x.__ts) as t from __%s_m x where x.__c%d is not null and %s group by all) group by %s)`,
				cte, rowCol, a.N, q(a.Name), rowCol, i, alias, i, strings.ReplaceAll(in(a.Window), "e.", "x."), rowCol))
		}
	}
	agg := fmt.Sprintf("__%s_a as (select x.%s%s from __%s_m x group by x.%s)", alias, rowCol, prefixComma(aggs), alias, rowCol)
	ctes = append(ctes, agg)
	a := "a_" + alias
	join := fmt.Sprintf("left join __%s_a %s on %s.%s = e.%s", alias, a, a, rowCol, rowCol)
	for i, ag := range st.Aggregations {
		if !want[ag.Name] {
			continue
		}
		switch ag.Function {
		case "count":
			exprs[ag.Name] = fmt.Sprintf("coalesce(%s.%s, 0)", a, q(ag.Name))
		case "last_distinct":
			l := fmt.Sprintf("l%d_%s", i, alias)
			join += fmt.Sprintf(" left join __%s_l%d %s on %s.%s = e.%s", alias, i, l, l, rowCol, rowCol)
			exprs[ag.Name] = l + "." + q(ag.Name)
		default:
			exprs[ag.Name] = a + "." + q(ag.Name)
		}
	}
	return ctes, join
}

// createdSQL is a view's created timestamp column, or NULL without one.
// tieBreak completes the order of a view's rows for one key and event time
// (created last first) into a total order: then the greatest feature
// values, in the order the view declares them. So a training set and the
// online store pick the same row of several tied ones, run after run.
// cols are the feature columns as the query names them.
func tieBreak(cols []string) string {
	var b strings.Builder
	b.WriteString("__created desc nulls last")
	for _, c := range cols {
		b.WriteString(", " + c + " desc nulls last")
	}
	return b.String()
}

func createdSQL(v *View) string {
	if v.Created == "" {
		return "NULL::TIMESTAMP"
	}
	return q(v.Created) + "::TIMESTAMP"
}

func prefixComma(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return ", " + strings.Join(list, ", ")
}

// lineage fills what the training set read: the definitions, the entity
// input's hash, and each source's rows and latest table version.
func (s *Store) lineage(ctx context.Context, tx tandem.Execer, ts *TrainingSet, views []string, req *HistoricalRequest, ent string) error {
	defs := map[string]*View{}
	for _, vn := range views {
		defs[vn] = s.Registry.Views[vn]
	}
	b, _ := json.Marshal(defs)
	ts.Definitions = b
	sum := sha256.Sum256(b)
	ts.DefsHash = hex.EncodeToString(sum[:])
	switch {
	case req.EntitiesFile != "":
		ts.Entities = req.EntitiesFile
		f, err := os.Open(req.EntitiesFile)
		if err != nil {
			return err
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		ts.EntitiesHash = "sha256:" + hex.EncodeToString(h.Sum(nil))
	default:
		ts.Entities = req.EntitiesSQL
		if req.EntitiesRows != nil {
			ts.Entities = "(rows in the request)"
		}
		// The rows as read, in order: a hash of their content.
		r, err := tx.Query(ctx, "select md5(string_agg(t::VARCHAR, chr(10) order by rowid)) from "+ent+" t", 0)
		if err != nil {
			return err
		}
		if len(r.Rows) > 0 {
			ts.EntitiesHash = "md5:" + fmt.Sprint(r.Rows[0][0])
		}
	}
	if r, err := tx.Query(ctx, "select count(*) from "+ent, 0); err == nil && len(r.Rows) > 0 {
		fmt.Sscan(fmt.Sprint(r.Rows[0][0]), &ts.EntityRows)
	}
	for _, vn := range views {
		v := s.Registry.Views[vn]
		sv := SourceVersion{View: vn, Relation: v.Relation}
		r, err := tx.Query(ctx, fmt.Sprintf("select count(*), max(%s)::VARCHAR, %s from %s t", q(v.Timestamp), fingerprintSQL, v.Relation), 0)
		if err != nil {
			return err
		}
		fmt.Sscan(fmt.Sprint(r.Rows[0][0]), &sv.Rows)
		sv.MaxEvent = fmt.Sprint(r.Rows[0][1])
		sv.Fingerprint = fmt.Sprint(r.Rows[0][2])
		if s.Meta != nil && v.Node != "" {
			if vs, err := s.Meta.TableVersions(ctx, v.Node); err == nil && len(vs) > 0 {
				sv.Version, sv.BuiltAt = vs[0].Version, vs[0].CreatedAt
			}
		}
		ts.Sources = append(ts.Sources, sv)
	}
	id := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%v|%v|%v|%+v|%s", ts.DefsHash, ts.EntitiesHash, ts.Features, ts.FullNames, ts.FilterCreated, ts.Sources, ts.CreatedAt)))
	ts.ID = "ts_" + hex.EncodeToString(id[:6])
	return nil
}

func (s *Store) record(ts *TrainingSet) error {
	if s.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(ts, "", "  ")
	tmp := filepath.Join(s.Dir, ts.ID+".json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.Dir, ts.ID+".json"))
}

// fingerprintSQL is a relation's fingerprint over its rows aliased t:
// the row count and the sum of the rows' hashes, in any order.
const fingerprintSQL = "count(*)::VARCHAR || ':' || coalesce(sum(hash(t)), 0)::VARCHAR"

func fingerprint(ctx context.Context, tx tandem.Execer, relation string) (string, error) {
	r, err := tx.Query(ctx, "select "+fingerprintSQL+" from "+relation+" t", 0)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(r.Rows[0][0]), nil
}

// readFile is SQL that reads a training set's output file.
func readFile(path string) string {
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		return "read_csv(" + project.QuoteString(path) + ", header = true)"
	}
	return "read_parquet(" + project.QuoteString(path) + ")"
}

// OneSelect refuses SQL that is not exactly one SELECT statement (several
// statements, DDL, DML, COPY, ATTACH, SET, PRAGMA ...): what SQL from
// outside may be. DuckDB's own parser decides, through json_serialize_sql,
// which serializes SELECT statements only.
func OneSelect(ctx context.Context, w tandem.Warehouse, sql string) error {
	rows, err := w.Query(ctx, "select json_serialize_sql($1::VARCHAR)::VARCHAR", 1, sql)
	if err != nil {
		return err
	}
	var out struct {
		Error      bool              `json:"error"`
		Message    string            `json:"error_message"`
		Statements []json.RawMessage `json:"statements"`
	}
	if len(rows.Rows) != 1 || json.Unmarshal([]byte(fmt.Sprint(rows.Rows[0][0])), &out) != nil {
		return tandem.Errorf(tandem.EINTERNAL, "cannot check the SQL")
	}
	switch {
	case out.Error && strings.Contains(out.Message, "Only SELECT"):
		return tandem.Errorf(tandem.EINVALID, "entities_sql: only one SELECT statement is run here (this is another kind of statement)")
	case out.Error:
		return tandem.Errorf(tandem.EINVALID, "entities_sql: %s", out.Message)
	case len(out.Statements) != 1:
		return tandem.Errorf(tandem.EINVALID, "entities_sql: only one SELECT statement is run here, not %d", len(out.Statements))
	}
	return nil
}
