package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/ml"
)

func (s *Server) models() (*ml.Server, error) {
	m := s.Platform.Models()
	if m == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "the project declares no models (ml/*.yml)")
	}
	return m, nil
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	m, err := s.models()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"models": modelList(m)})
}

func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, tandem.Errorf(tandem.EINVALID, "?%s=%q: write true or false", name, v)
	}
	return b, nil
}

// filterParam reads ?filter=a,b (or repeated): the allow-lists to apply.
func filterParam(r *http.Request) []string {
	var out []string
	for _, v := range r.URL.Query()["filter"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// recommend is GET /api/v1/models/{name}/recommend?user=&k=&exclude_seen=.
// The response names the model and version that answered, and why a
// fallback did when one did.
func (s *Server) recommend(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	began := time.Now()
	m, err := s.models()
	if err != nil {
		return err
	}
	user := r.URL.Query().Get("user")
	if user == "" {
		return tandem.Errorf(tandem.EINVALID, "name the user: ?user=12347")
	}
	k, err := intParam(r, "k", 10, 1000)
	if err != nil {
		return err
	}
	seen, err := boolParam(r, "exclude_seen", true)
	if err != nil {
		return err
	}
	allow, err := m.Allow(r.PathValue("name"), filterParam(r))
	if err != nil {
		return err
	}
	ans, err := m.Recommend(r.PathValue("name"), user, k, seen, allow)
	if err != nil {
		return err
	}
	serverTiming(w, began)
	return writeJSON(w, http.StatusOK, ans)
}

// similar is GET /api/v1/models/{name}/similar?item=&k=.
func (s *Server) similar(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	began := time.Now()
	m, err := s.models()
	if err != nil {
		return err
	}
	item := r.URL.Query().Get("item")
	if item == "" {
		return tandem.Errorf(tandem.EINVALID, "name the item: ?item=85123A")
	}
	k, err := intParam(r, "k", 10, 1000)
	if err != nil {
		return err
	}
	allow, err := m.Allow(r.PathValue("name"), filterParam(r))
	if err != nil {
		return err
	}
	ans, err := m.Similar(r.PathValue("name"), item, k, allow)
	if err != nil {
		return err
	}
	serverTiming(w, began)
	return writeJSON(w, http.StatusOK, ans)
}

// predict is POST /api/v1/models/{name}/predict with
// {"entities": {"customer_id": [12347, 12348]}} (or one value per key).
func (s *Server) predict(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	began := time.Now()
	m, err := s.models()
	if err != nil {
		return err
	}
	var req struct {
		Entities map[string]json.RawMessage `json:"entities"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		return tandem.Errorf(tandem.EINVALID, `request body: %v; send {"entities": {"customer_id": [12347, 12348]}}`, err)
	}
	entities := make(map[string][]any, len(req.Entities))
	for k, raw := range req.Entities {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return tandem.Errorf(tandem.EINVALID, "entities.%s: %v", k, err)
		}
		switch x := v.(type) {
		case []any:
			entities[k] = x
		case map[string]any:
			return tandem.Errorf(tandem.EINVALID, "entities.%s is an object; give a value or a list of values", k)
		default:
			entities[k] = []any{x}
		}
	}
	ans, err := m.Predict(r.Context(), r.PathValue("name"), entities)
	if err != nil {
		return err
	}
	serverTiming(w, began)
	return writeJSON(w, http.StatusOK, ans)
}

// trainModel is POST /api/v1/models/{name}/train with an optional
// {"promote": true}.
func (s *Server) trainModel(w http.ResponseWriter, r *http.Request, tok *tandem.Token) error {
	var req struct {
		Promote bool `json:"promote"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	name := r.PathValue("name")
	v, verdict, err := s.Platform.TrainModel(r.Context(), actor(tok), name, req.Promote)
	if err != nil {
		return err
	}
	if err := s.record(r.Context(), tok, "model.train", name, fmt.Sprintf("v%d", v.Version)); err != nil {
		return err
	}
	promoted := verdict != nil && verdict.Pass
	return writeJSON(w, http.StatusCreated, map[string]any{"version": v, "verdict": verdict, "promoted": promoted})
}
