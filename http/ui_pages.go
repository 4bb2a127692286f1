package http

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/yuin/goldmark"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/internal/sorted"
	"github.com/tandem-data/tandem/project"
)

// The pages of the catalog, a node, its lineage, runs, events and
// features. Each reads what the API reads; the buttons post forms to
// /ui/... actions that check the editor role like the API does, and come
// back to the page with what happened (?done= or ?failed=).

// canEdit says whether the visitor gets the buttons that change things.
func canEdit(tok *tandem.Token) bool {
	return tok != nil && roleRank[tok.Role] >= roleRank[tandem.RoleEditor]
}

// back redirects to a page with a message.
func back(w http.ResponseWriter, r *http.Request, page string, err error, done string) {
	q := url.Values{}
	if err != nil {
		q.Set("failed", tandem.ErrorMessage(err))
	} else {
		q.Set("done", done)
	}
	sep := "?"
	if strings.Contains(page, "?") {
		sep = "&"
	}
	http.Redirect(w, r, page+sep+q.Encode(), http.StatusSeeOther)
}

// pageData starts a page's data with what every page shows.
func pageData(r *http.Request, tok *tandem.Token, title string) map[string]any {
	return map[string]any{"Title": title, "Token": tok, "CanEdit": canEdit(tok),
		"Done": r.URL.Query().Get("done"), "Failed": r.URL.Query().Get("failed")}
}

func (s *Server) catalog() *catalog {
	return s.catalogs.get(s.Platform.Project(), s.Platform.Plan(), s.Platform.Features(), s.Platform.Models())
}

func (s *Server) uiCatalog(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	q, kind := r.URL.Query().Get("q"), r.URL.Query().Get("kind")
	began := time.Now()
	c := s.catalog()
	hits, total := c.search(q, kind, 100)
	took := time.Since(began)
	w.Header().Set("Server-Timing", fmt.Sprintf("search;dur=%.3f", took.Seconds()*1000))
	data := pageData(r, tok, "Catalog")
	counts := c.counts()
	type kindCount struct {
		Kind, Label string
		N           int
	}
	var kinds []kindCount
	for _, k := range catalogKinds {
		if counts[k] > 0 {
			kinds = append(kinds, kindCount{k, kindLabel(k), counts[k]})
		}
	}
	data["Q"], data["Kind"], data["Kinds"], data["Hits"], data["Total"], data["All"] = q, kind, kinds, hits, total, len(c.entries)
	data["Took"] = fmt.Sprintf("%.1f ms", took.Seconds()*1000)
	if r.URL.Query().Get("fragment") == "1" { // the search box's live results
		return s.renderFragment(w, "catalog", "results", data)
	}
	s.render(w, http.StatusOK, "catalog", data)
	return nil
}

var markdown = goldmark.New() // raw HTML in docs is escaped, not rendered

func renderMarkdown(src string) template.HTML {
	var b bytes.Buffer
	if err := markdown.Convert([]byte(src), &b); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(b.String())
}

func (s *Server) uiNode(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	p := s.Platform.Project()
	n, err := s.findNode(r.PathValue("id"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	v := s.view(n)
	data := pageData(r, tok, n.Name)
	data["Node"], data["View"], data["Docs"] = n, v, renderMarkdown(n.Description)
	results, err := s.Meta.LatestResults(ctx, append([]string{n.ID}, v.Tests...))
	if err != nil {
		return err
	}
	type testRow struct {
		ID, Name string
		Test     *tandem.TestSpec
		Result   *tandem.NodeResult
	}
	var tests []testRow
	for _, id := range v.Tests {
		tests = append(tests, testRow{ID: id, Name: p.Nodes[id].Name, Test: p.Nodes[id].Test, Result: results[id]})
	}
	data["Tests"], data["Result"] = tests, results[n.ID]
	for _, f := range s.Platform.Freshness(ctx) {
		if f.Node == n.ID {
			data["Freshness"] = f
		}
	}
	switch n.Kind {
	case tandem.KindModel, tandem.KindTest:
		sql, err := p.Compile(n.ID, project.CompileContext{})
		if err != nil {
			data["SQLError"] = tandem.ErrorMessage(err)
		}
		data["SQL"] = sql
	case tandem.KindSource:
		data["SQL"] = n.ExternalLocation
	}
	cols := n.Columns
	if n.Kind != tandem.KindTest && n.Materialized != tandem.Ephemeral {
		rows, err := s.Platform.Preview(ctx, n, 10)
		if err != nil {
			data["PreviewError"] = tandem.ErrorMessage(err)
		} else {
			data["Preview"] = rows
			cols = mergeColumns(n.Columns, rows.Columns)
		}
		versions, err := s.Meta.TableVersions(ctx, n.ID)
		if err != nil {
			return err
		}
		data["Versions"] = versions
	}
	data["Columns"] = cols
	s.render(w, http.StatusOK, "node", data)
	return nil
}

// mergeColumns lists the documented columns with the warehouse's types,
// then the undocumented ones the warehouse has.
func mergeColumns(doc, actual []tandem.Column) []tandem.Column {
	types := map[string]string{}
	for _, c := range actual {
		types[strings.ToLower(c.Name)] = c.Type
	}
	seen := map[string]bool{}
	var out []tandem.Column
	for _, c := range doc {
		if t := types[strings.ToLower(c.Name)]; t != "" {
			c.Type = t
		}
		seen[strings.ToLower(c.Name)] = true
		out = append(out, c)
	}
	for _, c := range actual {
		if !seen[strings.ToLower(c.Name)] {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) uiNodeRollback(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	n, err := s.findNode(r.PathValue("id"))
	if err != nil {
		return err
	}
	version, err := strconv.Atoi(r.PostFormValue("version"))
	if err != nil {
		return tandem.Errorf(tandem.EINVALID, "version %q is not a number", r.PostFormValue("version"))
	}
	tv, err := s.Platform.RollbackTable(r.Context(), actor(tok), n, version)
	if err == nil {
		err = s.record(r.Context(), tok, "table.rollback", n.ID, fmt.Sprintf("version %d", version))
	}
	done := ""
	if tv != nil {
		done = fmt.Sprintf("%s is now version %d (%d rows); the table it replaced is kept", n.Name, tv.Version, tv.Rows)
	}
	back(w, r, "/ui/nodes/"+n.ID, err, done)
	return nil
}

func (s *Server) uiLineage(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	n, err := s.findNode(r.PathValue("id"))
	if err != nil {
		return err
	}
	up, err := intParam(r, "up", 2, 20)
	if err != nil {
		return err
	}
	down, err := intParam(r, "down", 2, 20)
	if err != nil {
		return err
	}
	tests := r.URL.Query().Get("tests") == "1"
	l := layoutLineage(s.Platform.Project(), n, up, down, tests)
	data := pageData(r, tok, "Lineage of "+n.Name)
	data["Node"], data["Lineage"], data["SVG"], data["Up"], data["Down"], data["Tests"] = n, l, l.svg(tests), up, down, tests
	s.render(w, http.StatusOK, "lineage", data)
	return nil
}

var runStatuses = []tandem.Status{tandem.StatusQueued, tandem.StatusRunning, tandem.StatusSuccess, tandem.StatusWarn, tandem.StatusError}

func (s *Server) uiRuns(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	f, err := runFilter(r, 50)
	if err != nil {
		return err
	}
	runs, err := s.Meta.FindRuns(r.Context(), f)
	if err != nil {
		return err
	}
	data := pageData(r, tok, "Runs")
	data["Runs"], data["Jobs"], data["Statuses"], data["Job"], data["Status"], data["Limit"] = runs, s.Platform.Jobs(), runStatuses, f.Job, r.URL.Query().Get("status"), f.Limit
	s.render(w, http.StatusOK, "runs", data)
	return nil
}

func (s *Server) uiRun(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	run, err := s.Meta.FindRun(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	lines, ended, err := s.Platform.RunLog(r.Context(), run.ID, 0)
	if err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return err
	}
	var failed []string
	for _, n := range run.Nodes {
		if n.Failed() {
			failed = append(failed, n.Node)
		}
	}
	data := pageData(r, tok, "Run "+run.ID)
	data["Run"], data["Gantt"], data["Log"], data["Ended"], data["FailedNodes"] = run, gantt(run, s.Clock()), lines, ended || (run.Status != tandem.StatusRunning && run.Status != tandem.StatusQueued), failed
	data["LogAfter"] = len(lines)
	if len(lines) > 0 {
		data["LogAfter"] = lines[len(lines)-1].N
	}
	s.render(w, http.StatusOK, "run", data)
	return nil
}

func (s *Server) uiRerunFailed(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	p := s.Platform.Project()
	run, err := s.Meta.FindRun(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	var sel []string
	for _, n := range run.Nodes {
		if n.Failed() {
			if node, ok := p.Nodes[n.Node]; ok {
				sel = append(sel, node.Name)
			}
		}
	}
	if len(sel) == 0 {
		back(w, r, "/ui/runs/"+run.ID, tandem.Errorf(tandem.ECONFLICT, "run %s has no failed nodes to run again", run.ID), "")
		return nil
	}
	next, err := s.Platform.StartRun(r.Context(), actor(tok), &RunRequest{Command: "build", Select: sel})
	if err != nil {
		back(w, r, "/ui/runs/"+run.ID, err, "")
		return nil
	}
	if err := s.record(r.Context(), tok, "run.create", strings.Join(sel, " "), next.ID); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/runs/"+next.ID, http.StatusSeeOther)
	return nil
}

func (s *Server) uiTriggerJob(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	name := r.PathValue("name")
	run, err := s.Platform.TriggerJob(r.Context(), actor(tok), name)
	if err != nil {
		back(w, r, "/ui/runs", err, "")
		return nil
	}
	if err := s.record(r.Context(), tok, "job.trigger", name, run.ID); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/runs/"+run.ID, http.StatusSeeOther)
	return nil
}

// gantt draws a run's nodes as bars on a time axis from the run's start.
func gantt(run *tandem.Run, now time.Time) template.HTML {
	nodes := make([]*tandem.NodeResult, 0, len(run.Nodes))
	for _, n := range run.Nodes {
		if !n.StartedAt.IsZero() {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return ""
	}
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].StartedAt.Before(nodes[j].StartedAt) })
	const show = 400
	more := 0
	if len(nodes) > show {
		nodes, more = nodes[:show], len(nodes)-show
	}
	end := run.EndedAt
	for _, n := range nodes {
		if e := n.StartedAt.Add(n.Duration); e.After(end) {
			end = e
		}
	}
	span := end.Sub(run.StartedAt)
	if span <= 0 {
		span = time.Millisecond
	}
	const label, w, row = 260.0, 520.0, 20.0
	h := row*float64(len(nodes)) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="gantt" role="img" aria-label="timeline of run %s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`,
		template.HTMLEscapeString(run.ID), label+w+10, h, label+w+10, h)
	for i, n := range nodes {
		y := float64(i) * row
		x := label + w*float64(n.StartedAt.Sub(run.StartedAt))/float64(span)
		bw := max(2, w*float64(n.Duration)/float64(span))
		name := n.Node
		if k := strings.LastIndexByte(name, '.'); k >= 0 && n.Kind != tandem.KindTest {
			name = name[k+1:]
		}
		if len(name) > 38 {
			name = name[:37] + "…"
		}
		fmt.Fprintf(&b, `<g class="bar %s"><title>%s: %s, %s, %d rows</title><text x="0" y="%.0f">%s</text><rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" rx="2"/></g>`,
			n.Status, template.HTMLEscapeString(n.Node), n.Status, n.Duration.Round(time.Millisecond), n.Rows, y+14, template.HTMLEscapeString(name), x, y+3, bw, row-6)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">0</text><text x="%.0f" y="%.0f" text-anchor="end">%s</text>`, label, h-8, label+w, h-8, span.Round(time.Millisecond))
	if more > 0 {
		fmt.Fprintf(&b, `<text x="0" y="%.0f">+ %d more nodes</text>`, h-8, more)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (s *Server) uiEvents(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	data := pageData(r, tok, "Events")
	plan := s.Platform.Plan()
	data["Plan"] = plan
	if plan != nil {
		type prop struct {
			Name, Type, Description string
			Required                bool
		}
		type ev struct {
			Name, Table, Description, Owner, File string
			Line                                  int
			Props                                 []prop
		}
		var evs []ev
		for _, name := range sorted.Keys(plan.Events) {
			e := plan.Events[name]
			x := ev{Name: name, Table: collect.TableName(name), Description: e.Description, Owner: e.Owner, File: e.File, Line: e.Line}
			for _, pn := range sorted.Keys(e.Properties) {
				ps := e.Properties[pn]
				req, _ := ps.Required.(bool)
				x.Props = append(x.Props, prop{Name: pn, Type: fmt.Sprint(ps.Type), Description: ps.Description, Required: req})
			}
			evs = append(evs, x)
		}
		data["Events"] = evs
	}
	st, err := s.Platform.EventStats(r.Context(), 60)
	if err != nil {
		return err
	}
	data["Stats"], data["Chart"] = st, eventsChart(st)
	s.render(w, http.StatusOK, "events", data)
	return nil
}

func (s *Server) uiReplayEvents(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	res, err := s.Platform.ReplayQuarantined(r.Context())
	if err == nil {
		err = s.record(r.Context(), tok, "events.replay", "", fmt.Sprintf("%+v", res))
	}
	back(w, r, "/ui/events", err, fmt.Sprintf("replayed: %+v", res))
	return nil
}

// chartColors are the series colours of the events chart.
var chartColors = []string{"#2f5bd3", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#6b7280", "#c0392b", "#2ecc71"}

// eventsChart draws events per minute, one line per event (the eight
// busiest), with a legend.
func eventsChart(st *collect.Stats) template.HTML {
	if st == nil || st.Total == 0 {
		return ""
	}
	names := sorted.Keys(st.PerMinute)
	sum := func(xs []int64) (t int64) {
		for _, x := range xs {
			t += x
		}
		return
	}
	sort.SliceStable(names, func(i, j int) bool { return sum(st.PerMinute[names[i]]) > sum(st.PerMinute[names[j]]) })
	if len(names) > len(chartColors) {
		names = names[:len(chartColors)]
	}
	var top int64 = 1
	for _, n := range names {
		for _, c := range st.PerMinute[n] {
			top = max(top, c)
		}
	}
	const w, h, pad, legend = 720.0, 220.0, 40.0, 200.0
	x := func(i int) float64 { return pad + float64(i)*(w-2*pad)/float64(max(1, st.Minutes-1)) }
	y := func(v int64) float64 { return h - pad - float64(v)/float64(top)*(h-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="events per minute" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`, w+legend, h, w+legend, h)
	fmt.Fprintf(&b, `<text x="4" y="%.0f">%d/min</text><text x="4" y="%.0f">0</text>`, y(top)+4, top, y(0)+4)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text><text x="%.0f" y="%.0f" text-anchor="end">%s UTC</text>`, pad, h-8, st.From.UTC().Format("15:04"), w-pad, h-8, st.To.UTC().Format("15:04"))
	for k, n := range names {
		var pts []string
		for i, c := range st.PerMinute[n] {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(c)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`, chartColors[k], strings.Join(pts, " "), template.HTMLEscapeString(n))
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/><text x="%.0f" y="%.0f">%s (%d)</text>`,
			w+4, 20+float64(k)*18, chartColors[k], w+20, 29+float64(k)*18, template.HTMLEscapeString(n), sum(st.PerMinute[n]))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (s *Server) uiFeatures(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	fs := s.Platform.Features()
	data := pageData(r, tok, "Features")
	if fs == nil {
		s.render(w, http.StatusOK, "features", data)
		return nil
	}
	ctx := r.Context()
	reg := fs.Registry
	views := s.viewRows(ctx, fs)
	data["Store"], data["Views"], data["Entities"], data["Services"] = fs, views, sortedEntities(reg), reg.Services
	// The lookup box: one entity's latest values from online serving.
	entity, key := r.URL.Query().Get("entity"), strings.TrimSpace(r.URL.Query().Get("key"))
	data["Entity"], data["Key"] = entity, key
	if entity != "" && key != "" {
		res, err := lookupEntity(ctx, fs, entity, key)
		if err != nil {
			data["LookupError"] = tandem.ErrorMessage(err)
		}
		data["Lookup"] = res
	}
	s.render(w, http.StatusOK, "features", data)
	return nil
}

// viewRow is a feature view with the age of its newest row by the
// platform clock. Stale: older than its ttl, so every online read of it
// answers OUTSIDE_MAX_AGE until it is rebuilt and materialized.
type viewRow struct {
	V      *feature.View
	Latest time.Time
	Age    time.Duration
	Rows   int64
	Stale  bool
}

func (s *Server) viewRows(ctx context.Context, fs *feature.Store) []viewRow {
	var views []viewRow
	for _, name := range fs.Registry.ViewNames() {
		v := fs.Registry.Views[name]
		row := viewRow{V: v}
		if v.Relation != "" {
			if latest, n, err := viewFreshness(ctx, fs, v); err == nil {
				row.Latest, row.Rows = latest, n
				if !latest.IsZero() {
					row.Age = s.Clock().Sub(latest)
					row.Stale = v.TTL > 0 && row.Age > v.TTL
				}
			}
		}
		views = append(views, row)
	}
	return views
}

func sortedEntities(reg *feature.Registry) []*feature.Entity {
	var out []*feature.Entity
	for _, n := range sorted.Keys(reg.Entities) {
		out = append(out, reg.Entities[n])
	}
	return out
}

// viewFreshness reads a view's newest event timestamp and row count.
func viewFreshness(ctx context.Context, fs *feature.Store, v *feature.View) (time.Time, int64, error) {
	var latest time.Time
	var n int64
	err := fs.Warehouse.Each(ctx, fmt.Sprintf("select max(%s), count(*) from %s", project.QuoteIdent(v.Timestamp), v.Relation),
		func(_ []tandem.Column, row []any) error {
			latest, _ = row[0].(time.Time)
			n, _ = row[1].(int64)
			return nil
		})
	return latest, n, err
}

// lookedUp is one feature's online value.
type lookedUp struct {
	Ref   string
	Value feature.Value
}

// lookupEntity reads every online feature of the views keyed by entity.
// A key of several join keys is given comma-separated, in their order.
func lookupEntity(ctx context.Context, fs *feature.Store, entity, key string) ([]lookedUp, error) {
	e, ok := fs.Registry.Entities[entity]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no entity %q", entity)
	}
	parts := strings.Split(key, ",")
	if len(parts) != len(e.JoinKeys) {
		return nil, tandem.Errorf(tandem.EINVALID, "%s is keyed by %s: give %d value(s), comma-separated", entity, strings.Join(e.JoinKeys, ", "), len(e.JoinKeys))
	}
	req := &feature.OnlineRequest{Entities: map[string][]any{}}
	for i, k := range e.JoinKeys {
		p := strings.TrimSpace(parts[i])
		var v any = p
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			v = n
		}
		req.Entities[k] = []any{v}
	}
	for _, name := range fs.Registry.ViewNames() {
		v := fs.Registry.Views[name]
		if !v.IsOnline() || strings.Join(v.Keys, ",") != strings.Join(e.JoinKeys, ",") {
			continue
		}
		for _, f := range v.Features {
			req.Features = append(req.Features, name+":"+f.Name)
		}
	}
	if len(req.Features) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no online feature view is keyed by %s", entity)
	}
	refs, vals, n, err := fs.Lookup(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []lookedUp
	for i, ref := range refs {
		if n > 0 {
			out = append(out, lookedUp{Ref: ref.String(), Value: vals[i][0]})
		}
	}
	return out, nil
}

func (s *Server) uiFeatureView(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	fs, err := s.featureStore()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	v, ok := fs.Registry.Views[name]
	if !ok {
		return tandem.Errorf(tandem.ENOTFOUND, "no feature view %q", name)
	}
	data := pageData(r, tok, name)
	data["View"] = v
	if v.Relation != "" {
		st, err := fs.Stats(r.Context(), name)
		if err != nil {
			data["StatsError"] = tandem.ErrorMessage(err)
		} else {
			data["Stats"] = st
			if !st.Latest.IsZero() {
				data["Age"] = s.Clock().Sub(st.Latest)
			}
		}
	}
	s.render(w, http.StatusOK, "feature_view", data)
	return nil
}

// histogram draws bins as a small bar chart.
func histogram(bins []feature.Bin) template.HTML {
	if len(bins) == 0 {
		return ""
	}
	var top int64 = 1
	for _, b := range bins {
		top = max(top, b.Count)
	}
	const w, h = 200.0, 40.0
	bw := w / float64(len(bins))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="hist" role="img" aria-label="histogram" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`, w, h, w, h)
	for i, bin := range bins {
		bh := max(1, h*float64(bin.Count)/float64(top))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`, float64(i)*bw+1, h-bh, bw-2, bh, template.HTMLEscapeString(bin.Label), bin.Count)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
