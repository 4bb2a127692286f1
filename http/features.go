package http

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/internal/jsonw"
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

const feastEpoch = "1970-01-01T00:00:00Z"

// feastOnlineFeatures is Feast's POST /get-online-features: the same
// request ({"features" or "feature_service", "entities": {key: [values]},
// "full_feature_names"}) and response, so Feast clients can call Tandem.
// It is the hot path of online serving, so the request is parsed with
// fastjson and the response written by hand (4x less CPU than
// encoding/json; BenchmarkFeastOnline50).
func (s *Server) feastOnlineFeatures(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	began := time.Now()
	fs, err := s.featureStore()
	if err != nil {
		return err
	}
	buf := bufs.Get().(*[]byte)
	defer bufs.Put(buf)
	body, err := readBody(r, (*buf)[:0])
	*buf = body[:0]
	if err != nil {
		return err
	}
	p := parsers.Get()
	defer parsers.Put(p)
	req, err := parseFeastRequest(p, body)
	if err != nil {
		return err
	}
	refs, vals, n, err := fs.Lookup(r.Context(), req)
	if err != nil {
		return err
	}
	// The entity keys first, in the order the request's views name them.
	var keys []string
	for _, ref := range refs {
		for _, k := range fs.Registry.Views[ref.View].Keys {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	b := append(*buf, `{"metadata":{"feature_names":[`...)
	for i, k := range keys {
		b = appendComma(b, i)
		b = jsonw.AppendString(b, k)
	}
	for i, ref := range refs {
		b = appendComma(b, len(keys)+i)
		if req.FullFeatureNames {
			b = jsonw.AppendString(b, ref.View+"__"+ref.Feature)
		} else {
			b = jsonw.AppendString(b, ref.Feature)
		}
	}
	b = append(b, `]},"results":[`...)
	for i, k := range keys {
		b = appendComma(b, i)
		b = append(b, `{"values":[`...)
		for e, x := range req.Entities[k] {
			b = appendComma(b, e)
			b = appendAny(b, x)
		}
		b = append(b, `],"statuses":[`...)
		for e := 0; e < n; e++ {
			b = appendComma(b, e)
			b = append(b, `"`+feature.Present+`"`...)
		}
		b = append(b, `],"event_timestamps":[`...)
		for e := 0; e < n; e++ {
			b = appendComma(b, e)
			b = append(b, `"`+feastEpoch+`"`...)
		}
		b = append(b, `]}`...)
	}
	for i := range refs {
		b = appendComma(b, len(keys)+i)
		b = append(b, `{"values":[`...)
		for e := 0; e < n; e++ {
			b = appendComma(b, e)
			b = appendAny(b, vals[i][e].Value)
		}
		b = append(b, `],"statuses":[`...)
		for e := 0; e < n; e++ {
			b = appendComma(b, e)
			b = jsonw.AppendString(b, vals[i][e].Status)
		}
		b = append(b, `],"event_timestamps":[`...)
		for e := 0; e < n; e++ {
			b = appendComma(b, e)
			if t := vals[i][e].EventTime; t.IsZero() {
				b = append(b, `"`+feastEpoch+`"`...)
			} else {
				b = append(b, '"')
				b = t.UTC().AppendFormat(b, time.RFC3339)
				b = append(b, '"')
			}
		}
		b = append(b, `]}`...)
	}
	b = append(b, "]}\n"...)
	*buf = b[:0]
	serverTiming(w, began)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

var (
	parsers fastjson.ParserPool
	bufs    = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}
)

// readBody reads a request body of up to 1 MiB into b.
func readBody(r *http.Request, b []byte) ([]byte, error) {
	rd := http.MaxBytesReader(nil, r.Body, 1<<20)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, tandem.Errorf(tandem.EINVALID, "request body: %v", err)
		}
	}
}

// parseFeastRequest reads Feast's request: features or feature_service,
// entities as {join_key: [values]}, full_feature_names.
func parseFeastRequest(p *fastjson.Parser, body []byte) (*feature.OnlineRequest, error) {
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "body is not a get-online-features request: %v", err)
	}
	o, err := v.Object()
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, `body is not a get-online-features request: want an object like {"features": ["view:feature"], "entities": {"key": [1]}}`)
	}
	req := &feature.OnlineRequest{}
	o.Visit(func(k []byte, x *fastjson.Value) {
		if err != nil {
			return
		}
		switch string(k) {
		case "features":
			arr, e := x.Array()
			if e != nil {
				err = tandem.Errorf(tandem.EINVALID, `"features" must be a list of "view:feature" strings`)
				return
			}
			req.Features = make([]string, len(arr))
			for i, f := range arr {
				sb, e := f.StringBytes()
				if e != nil {
					err = tandem.Errorf(tandem.EINVALID, `"features"[%d] must be a string like "view:feature"`, i)
					return
				}
				req.Features[i] = string(sb)
			}
		case "feature_service":
			sb, e := x.StringBytes()
			if e != nil {
				err = tandem.Errorf(tandem.EINVALID, `"feature_service" must be a string`)
				return
			}
			req.Service = string(sb)
		case "full_feature_names":
			req.FullFeatureNames, err = x.Bool()
			if err != nil {
				err = tandem.Errorf(tandem.EINVALID, `"full_feature_names" must be true or false`)
			}
		case "entities":
			eo, e := x.Object()
			if e != nil {
				err = tandem.Errorf(tandem.EINVALID, `"entities" must be an object of join key -> list of values`)
				return
			}
			req.Entities = make(map[string][]any, eo.Len())
			eo.Visit(func(key []byte, list *fastjson.Value) {
				arr, e := list.Array()
				if err != nil {
					return
				}
				if e != nil {
					err = tandem.Errorf(tandem.EINVALID, `"entities".%q must be a list of values`, key)
					return
				}
				vals := make([]any, len(arr))
				for i, a := range arr {
					switch a.Type() {
					case fastjson.TypeNumber:
						vals[i] = json.Number(a.MarshalTo(nil))
					case fastjson.TypeString:
						vals[i] = string(a.GetStringBytes())
					case fastjson.TypeTrue, fastjson.TypeFalse:
						vals[i] = a.GetBool()
					case fastjson.TypeNull:
						vals[i] = nil
					default:
						err = tandem.Errorf(tandem.EINVALID, `"entities".%q[%d] must be a number, string or boolean`, key, i)
						return
					}
				}
				req.Entities[string(key)] = vals
			})
		}
	})
	return req, err
}

func appendComma(b []byte, i int) []byte {
	if i > 0 {
		return append(b, ',')
	}
	return b
}

// appendAny writes a served value: what valueOf in the feature package
// and parseFeastRequest produce, and encoding/json for anything else.
func appendAny(b []byte, x any) []byte {
	switch y := x.(type) {
	case nil:
		return append(b, "null"...)
	case json.Number:
		return append(b, y...)
	case json.RawMessage:
		return append(b, y...)
	case string:
		return jsonw.AppendString(b, y)
	case bool:
		return strconv.AppendBool(b, y)
	case int64:
		return strconv.AppendInt(b, y, 10)
	}
	enc, err := json.Marshal(x)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, enc...)
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
	var start, end time.Time // a zero end is the feature store's now
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
