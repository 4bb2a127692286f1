package http

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/feature"
)

func (s *Server) featureStore() (*feature.Store, error) {
	fs := s.Platform.Features()
	if fs == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "the project defines no feature views (features/*.yml)")
	}
	return fs, nil
}

func (s *Server) listFeatures(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	fs, err := s.featureStore()
	if err != nil {
		return err
	}
	reg := fs.Registry
	return writeJSON(w, http.StatusOK, map[string]any{"entities": reg.Entities, "feature_views": reg.Views, "feature_services": reg.Services})
}

// OnlineFeaturesRequest is Tandem's own shape: entities as rows.
type OnlineFeaturesRequest struct {
	Features         []string         `json:"features"`
	Service          string           `json:"feature_service"`
	Entities         []map[string]any `json:"entities"`
	FullFeatureNames bool             `json:"full_feature_names"`
}

// serverTiming says how long the handler took, for load generators that
// separate server time from the network (Server-Timing, as browsers read it).
func serverTiming(w http.ResponseWriter, start time.Time) {
	w.Header().Set("Server-Timing", "app;dur="+strconv.FormatFloat(float64(time.Since(start).Microseconds())/1000, 'f', 3, 64))
}

func (s *Server) onlineFeatures(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	began := time.Now()
	fs, err := s.featureStore()
	if err != nil {
		return err
	}
	var req OnlineFeaturesRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.Entities) > feature.MaxEntities {
		return tandem.Errorf(tandem.EINVALID, "%d entities in one request; the limit is %d", len(req.Entities), feature.MaxEntities)
	}
	cols := map[string][]any{}
	for i, e := range req.Entities {
		for k, v := range e {
			if _, ok := cols[k]; !ok {
				if i > 0 {
					return tandem.Errorf(tandem.EINVALID, "entities[%d] has %q, which entities[0] lacks: give every entity the same keys", i, k)
				}
				cols[k] = make([]any, 0, len(req.Entities))
			}
			cols[k] = append(cols[k], v)
		}
		for k := range cols {
			if _, ok := e[k]; !ok {
				return tandem.Errorf(tandem.EINVALID, "entities[%d] lacks %q", i, k)
			}
		}
	}
	oreq := &feature.OnlineRequest{Features: req.Features, Service: req.Service, Entities: cols, FullFeatureNames: req.FullFeatureNames}
	refs, vals, n, err := fs.Lookup(r.Context(), oreq)
	if err != nil {
		return err
	}
	type result struct {
		Entity   map[string]any           `json:"entity"`
		Features map[string]feature.Value `json:"features"`
	}
	out := make([]result, n)
	for e := 0; e < n; e++ {
		out[e] = result{Entity: req.Entities[e], Features: make(map[string]feature.Value, len(refs))}
		for i, ref := range refs {
			name := ref.String()
			if req.FullFeatureNames {
				name = ref.View + "__" + ref.Feature
			}
			out[e].Features[name] = vals[i][e]
		}
	}
	serverTiming(w, began)
	return writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// The Feast feature server's shape: a column per entity key and feature,
// each with values, statuses and event timestamps for every entity.
type feastResponse struct {
	Metadata struct {
		FeatureNames []string `json:"feature_names"`
	} `json:"metadata"`
	Results []feastVector `json:"results"`
}

type feastVector struct {
	Values          []any    `json:"values"`
	Statuses        []string `json:"statuses"`
	EventTimestamps []string `json:"event_timestamps"`
}

const feastEpoch = "1970-01-01T00:00:00Z"

// feastOnlineFeatures is Feast's POST /get-online-features: the same
// request ({"features" or "feature_service", "entities": {key: [values]},
// "full_feature_names"}) and response, so Feast clients can call Tandem.
func (s *Server) feastOnlineFeatures(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	began := time.Now()
	fs, err := s.featureStore()
	if err != nil {
		return err
	}
	var req feature.OnlineRequest
	d := json.NewDecoder(r.Body)
	d.UseNumber()
	if err := d.Decode(&req); err != nil {
		return tandem.Errorf(tandem.EINVALID, "body is not a get-online-features request: %v", err)
	}
	refs, vals, n, err := fs.Lookup(r.Context(), &req)
	if err != nil {
		return err
	}
	var resp feastResponse
	// The entity keys first, in the order the request's views name them.
	seen := map[string]bool{}
	for _, ref := range refs {
		for _, k := range fs.Registry.Views[ref.View].Keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			resp.Metadata.FeatureNames = append(resp.Metadata.FeatureNames, k)
			v := feastVector{Values: req.Entities[k], Statuses: make([]string, n), EventTimestamps: make([]string, n)}
			for e := 0; e < n; e++ {
				v.Statuses[e], v.EventTimestamps[e] = feature.Present, feastEpoch
			}
			resp.Results = append(resp.Results, v)
		}
	}
	for i, ref := range refs {
		name := ref.Feature
		if req.FullFeatureNames {
			name = ref.View + "__" + ref.Feature
		}
		resp.Metadata.FeatureNames = append(resp.Metadata.FeatureNames, name)
		v := feastVector{Values: make([]any, n), Statuses: make([]string, n), EventTimestamps: make([]string, n)}
		for e := 0; e < n; e++ {
			x := vals[i][e]
			v.Values[e], v.Statuses[e], v.EventTimestamps[e] = x.Value, x.Status, feastEpoch
			if !x.EventTime.IsZero() {
				v.EventTimestamps[e] = x.EventTime.UTC().Format(time.RFC3339)
			}
		}
		resp.Results = append(resp.Results, v)
	}
	serverTiming(w, began)
	return writeJSON(w, http.StatusOK, resp)
}

// HistoricalFeaturesRequest asks for a training set over the API.
type HistoricalFeaturesRequest struct {
	Entities         []map[string]any `json:"entities"`     // rows
	EntitiesSQL      string           `json:"entities_sql"` // or a query
	TimestampColumn  string           `json:"timestamp_column"`
	Features         []string         `json:"features"`
	Service          string           `json:"feature_service"`
	FullFeatureNames bool             `json:"full_feature_names"`
	FilterCreated    bool             `json:"filter_created"`
	Limit            int              `json:"limit"` // rows returned (10,000 by default)
}

func (s *Server) historicalFeatures(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	fs, err := s.featureStore()
	if err != nil {
		return err
	}
	var req HistoricalFeaturesRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	h := &feature.HistoricalRequest{EntitiesRows: req.Entities, EntitiesSQL: req.EntitiesSQL, TimestampColumn: req.TimestampColumn,
		Service: req.Service, FullFeatureNames: req.FullFeatureNames, FilterCreated: req.FilterCreated, Limit: req.Limit}
	if h.Limit <= 0 {
		h.Limit = 10000
	}
	if req.Entities == nil && req.EntitiesSQL == "" {
		return tandem.Errorf(tandem.EINVALID, "give entities (rows) or entities_sql")
	}
	if len(req.Features) > 0 {
		if h.Refs, err = fs.Registry.ParseRefs(req.Features); err != nil {
			return err
		}
	}
	ts, rows, err := fs.Historical(r.Context(), h)
	if err != nil {
		return err
	}
	if err := s.record(r.Context(), tok, "features.historical", ts.ID, ""); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"training_set": ts, "columns": rows.Columns, "rows": rows.Rows})
}

// MaterializeRequest asks to materialize views into the online store.
type MaterializeRequest struct {
	Views       []string `json:"views"`
	Start       string   `json:"start"`
	End         string   `json:"end"`
	Incremental bool     `json:"incremental"`
}

func (s *Server) materializeFeatures(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	fs, err := s.featureStore()
	if err != nil {
		return err
	}
	var req MaterializeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var start time.Time
	end := s.Clock().UTC()
	for _, f := range []struct {
		s   string
		dst *time.Time
	}{{req.Start, &start}, {req.End, &end}} {
		if f.s != "" {
			t, err := time.Parse(time.RFC3339, f.s)
			if err != nil {
				if t, err = time.Parse("2006-01-02", f.s); err != nil {
					return tandem.Errorf(tandem.EINVALID, "%q is not a date (2011-01-01) or an RFC 3339 time", f.s)
				}
			}
			*f.dst = t
		}
	}
	if !req.Incremental && req.Start == "" {
		return tandem.Errorf(tandem.EINVALID, `say what to materialize: {"incremental": true}, or a start (and end)`)
	}
	res, err := fs.Materialize(r.Context(), req.Views, start, end, req.Incremental, nil)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(res)
	if err := s.record(r.Context(), tok, "features.materialize", "online", string(b)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
