package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/kvstore"
)

// newFeatureStore is a small feature store: drivers with two features,
// materialized into an online store, the clock at 2021-12-31 23:30.
func newFeatureStore(t testing.TB) *feature.Store {
	t.Helper()
	dir := t.TempDir()
	w, err := duckdb.Open(filepath.Join(dir, "w.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	ctx := context.Background()
	for _, sql := range []string{
		`create table driver_hourly_stats (driver_id BIGINT, event_timestamp TIMESTAMP, conv_rate DOUBLE, acc_rate DOUBLE, avg_daily_trips BIGINT)`,
		`insert into driver_hourly_stats values
			(1001, '2021-12-31 22:00:00', 0.5, 0.9, 300), (1001, '2021-12-31 23:00:00', 0.7037, 0.8724, 308),
			(1002, '2021-12-31 23:00:00', 0.0381, 0.4853, 332), (1003, '2021-12-30 23:00:00', 0.9665, NULL, 779)`,
	} {
		if _, err := w.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	online, err := kvstore.Open(filepath.Join(dir, "online.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { online.Close() })
	v := &feature.View{Name: "driver_hourly_stats", Entities: []string{"driver"}, Keys: []string{"driver_id"}, Relation: `"main"."driver_hourly_stats"`,
		Timestamp: "event_timestamp", TTL: 24 * time.Hour, Features: []feature.Feature{{Name: "conv_rate", Type: "float64"}, {Name: "acc_rate", Type: "float64"}, {Name: "avg_daily_trips", Type: "int64"}}}
	reg := &feature.Registry{Entities: map[string]*feature.Entity{"driver": {Name: "driver", JoinKeys: []string{"driver_id"}}},
		Views: map[string]*feature.View{v.Name: v}, Services: map[string]*feature.Service{}}
	reg.Services["driver_activity"] = &feature.Service{Name: "driver_activity", Features: []string{"driver_hourly_stats"}}
	reg.Services["driver_activity"].Refs, _ = reg.ParseRefs([]string{"driver_hourly_stats"})
	now := time.Date(2021, 12, 31, 23, 30, 0, 0, time.UTC)
	fs := &feature.Store{Registry: reg, Warehouse: w, Online: online, Clock: func() time.Time { return now }, Dir: filepath.Join(dir, "ts")}
	if _, err := fs.Materialize(ctx, nil, time.Time{}, now, false, nil); err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestFeastGetOnlineFeatures: a request recorded in the shape of Feast's
// feature server docs gets the response Feast gives, field for field.
func TestFeastGetOnlineFeatures(t *testing.T) {
	s, secrets := newTestServer(t)
	for _, tc := range []struct{ req, resp string }{
		{"feast_request.json", "feast_response.json"},
		{"feast_service_request.json", "feast_service_response.json"},
	} {
		req, _ := os.ReadFile(filepath.Join("testdata", tc.req))
		want, _ := os.ReadFile(filepath.Join("testdata", tc.resp))
		rec := do(s, "POST", "/get-online-features", secrets["viewer"], string(req))
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", tc.req, rec.Code, rec.Body)
		}
		var got, exp any
		json.Unmarshal(rec.Body.Bytes(), &got)
		if err := json.Unmarshal(want, &exp); err != nil {
			t.Fatal(err)
		}
		g, _ := json.MarshalIndent(got, "", "  ")
		e, _ := json.MarshalIndent(exp, "", "  ")
		if !bytes.Equal(g, e) {
			t.Errorf("%s:\n%s\nwant (%s):\n%s", tc.req, g, tc.resp, e)
		}
	}
}

func TestOnlineFeaturesAPI(t *testing.T) {
	s, secrets := newTestServer(t)
	rec := do(s, "POST", "/api/v1/features/online", secrets["viewer"],
		`{"features": ["driver_hourly_stats:conv_rate"], "entities": [{"driver_id": 1001}, {"driver_id": 1003}, {"driver_id": 5}]}`)
	want := `{"results":[{"entity":{"driver_id":1001},"features":{"driver_hourly_stats:conv_rate":{"value":0.7037,"status":"PRESENT","event_timestamp":"2021-12-31T23:00:00Z"}}},` +
		`{"entity":{"driver_id":1003},"features":{"driver_hourly_stats:conv_rate":{"value":null,"status":"OUTSIDE_MAX_AGE","event_timestamp":"2021-12-30T23:00:00Z"}}},` +
		`{"entity":{"driver_id":5},"features":{"driver_hourly_stats:conv_rate":{"value":null,"status":"NOT_FOUND"}}}]}`
	if rec.Code != 200 || string(bytes.TrimSpace(rec.Body.Bytes())) != want {
		t.Errorf("%d\n%s\nwant\n%s", rec.Code, rec.Body, want)
	}
	for body, msg := range map[string]string{
		`{"features": ["driver_hourly_stats:conv"], "entities": [{"driver_id": 1}]}`: `feature view \"driver_hourly_stats\" has no feature \"conv\"`,
		`{"features": ["driver_hourly_stats"], "entities": [{"id": 1}]}`:             `feature view \"driver_hourly_stats\" needs the join key \"driver_id\" in entities`,
		`{"features": ["driver_hourly_stats"], "entities": []}`:                      `entities is empty`,
	} {
		if rec := do(s, "POST", "/api/v1/features/online", secrets["viewer"], body); rec.Code != 400 || !bytes.Contains(rec.Body.Bytes(), []byte(msg)) {
			t.Errorf("%s: %d %s", body, rec.Code, rec.Body)
		}
	}
	rec = do(s, "POST", "/api/v1/features/historical", secrets["editor"],
		`{"entities": [{"driver_id": 1001, "event_timestamp": "2021-12-31T22:30:00"}], "features": ["driver_hourly_stats:avg_daily_trips"]}`)
	if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(`"rows":[[1001,"2021-12-31T22:30:00",300]]`)) {
		t.Errorf("historical: %d %s", rec.Code, rec.Body)
	}
}

// newWideStore is one view of `wide` float features over `rows`
// customers, materialized, with values an hour old.
func newWideStore(t *testing.T, wide, rows int) *feature.Store {
	dir := t.TempDir()
	w, err := duckdb.Open(filepath.Join(dir, "w.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	now := time.Date(2021, 12, 31, 23, 30, 0, 0, time.UTC)
	v := &feature.View{Name: "wide", Entities: []string{"customer"}, Keys: []string{"customer_id"}, Relation: `"main"."wide"`, Timestamp: "ts", TTL: 24 * time.Hour}
	cols := []string{"range as customer_id", "timestamp '2021-12-31 22:30:00' as ts"}
	for i := 0; i < wide; i++ {
		cols = append(cols, fmt.Sprintf("round(random() * %d, 4) as f%02d", i+1, i))
		v.Features = append(v.Features, feature.Feature{Name: fmt.Sprintf("f%02d", i), Type: "float64"})
	}
	if _, err := w.Exec(context.Background(), fmt.Sprintf("create table wide as select %s from range(%d)", strings.Join(cols, ", "), rows)); err != nil {
		t.Fatal(err)
	}
	online, err := kvstore.Open(filepath.Join(dir, "online.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { online.Close() })
	reg := &feature.Registry{Entities: map[string]*feature.Entity{"customer": {Name: "customer", JoinKeys: []string{"customer_id"}}},
		Views: map[string]*feature.View{"wide": v}, Services: map[string]*feature.Service{}}
	fs := &feature.Store{Registry: reg, Warehouse: w, Online: online, Clock: func() time.Time { return now }}
	if _, err := fs.Materialize(context.Background(), nil, time.Time{}, now, false, nil); err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestFeastRequestErrors: a malformed get-online-features request gets a
// 400 that names the field.
func TestFeastRequestErrors(t *testing.T) {
	s, secrets := newTestServer(t)
	for body, msg := range map[string]string{
		`{"features": "driver_hourly_stats:conv_rate"}`:                                                                   `\"features\" must be a list`,
		`{"features": [1], "entities": {"driver_id": [1001]}}`:                                                            `\"features\"[0] must be a string`,
		`{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [{}]}}`:                                `\"entities\".\"driver_id\"[0] must be a number`,
		`{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": 1001}}`:                                `must be a list of values`,
		`{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}, "full_feature_names": "yes"}`: `must be true or false`,
		`{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]`:                                `not a get-online-features request`,
		`{"features": ["driver_hourly_stats:conv_rat"], "entities": {"driver_id": [1001]}}`:                               `did you mean`,
	} {
		rec := do(s, "POST", "/get-online-features", secrets["viewer"], body)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), msg) {
			t.Errorf("%s: %d %s, want 400 with %s", body, rec.Code, rec.Body, msg)
		}
	}
}
