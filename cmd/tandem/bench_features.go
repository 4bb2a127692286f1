package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/feature"
	"github.com/tandem-data/tandem/kvstore"
)

func (a *app) benchFeaturesCommand() *cobra.Command {
	var entities, rows, views, onlineRows, wideFeatures, rate, clients int
	var duration time.Duration
	var parts string
	c := &cobra.Command{
		Use:   "features",
		Short: "The feature store under load: a training set, materialization, and online serving over HTTP",
		Long: `Generates data, then measures:
  historical   a training set of --entities rows against --views views of --rows rows in total
  materialize  --online-rows entities copied into the online store
  online       POST /get-online-features for one entity x --wide features at --rate requests/s
               against a real tandem serve (a generated project), with server and client latency`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			dir, err := os.MkdirTemp("", "tandem-bench-features-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			want := map[string]bool{}
			for _, p := range strings.Split(parts, ",") {
				want[strings.TrimSpace(p)] = true
			}
			if want["historical"] || want["materialize"] {
				if err := a.benchFeatureStore(ctx, dir, want, entities, rows, views, onlineRows); err != nil {
					return err
				}
			}
			if want["online"] {
				return a.benchOnline(ctx, dir, wideFeatures, rate, clients, duration)
			}
			return nil
		},
	}
	c.Flags().StringVar(&parts, "parts", "historical,materialize,online", "what to measure")
	c.Flags().IntVar(&entities, "entities", 1_000_000, "entity rows of the training set")
	c.Flags().IntVar(&rows, "rows", 10_000_000, "feature rows, over all views")
	c.Flags().IntVar(&views, "views", 3, "feature views of the training set")
	c.Flags().IntVar(&onlineRows, "online-rows", 10_000_000, "entities to materialize")
	c.Flags().IntVar(&wideFeatures, "wide", 50, "features per online request")
	c.Flags().IntVar(&rate, "rate", 10000, "online requests/s")
	c.Flags().IntVar(&clients, "clients", 32, "concurrent online clients")
	c.Flags().DurationVar(&duration, "duration", 20*time.Second, "how long to load the online server")
	return c
}

func vmHWM() string { return peakRSS(os.Getpid()) }

func (a *app) benchFeatureStore(ctx context.Context, dir string, want map[string]bool, entities, rows, views, onlineRows int) error {
	w, err := duckdb.Open(filepath.Join(dir, "w.duckdb"), duckdb.Options{})
	if err != nil {
		return err
	}
	defer w.Close()
	reg := &feature.Registry{Views: map[string]*feature.View{}}
	keys := max(entities/3, 1)
	if want["historical"] {
		fmt.Fprintf(a.stdout, "generating %d feature rows in %d views over %d customers, and %d entity rows ...\n", rows, views, keys, entities)
		var refs []string
		for v := 0; v < views; v++ {
			name := fmt.Sprintf("fv%d", v)
			// Rows spread over a year; several per customer; ties on time are possible.
			if _, err := w.Exec(ctx, fmt.Sprintf(`create table %s as select (hash(range * %d) %% %d)::BIGINT as customer_id,
				timestamp '2021-01-01' + to_seconds((hash(range + %d) %% 31536000)::BIGINT) as ts,
				random() as f1, random() as f2, (random() * 100)::BIGINT as f3, random() as f4, random() as f5
				from range(%d)`, name, v+1, keys, v, rows/views)); err != nil {
				return err
			}
			fv := &feature.View{Name: name, Keys: []string{"customer_id"}, Relation: `"main".` + duckdb.QuoteIdent(name), Timestamp: "ts", TTL: time.Duration(90*(v+1)) * 24 * time.Hour}
			for _, f := range []string{"f1", "f2", "f3", "f4", "f5"} {
				fv.Features = append(fv.Features, feature.Feature{Name: f, Type: "float64"})
			}
			reg.Views[name] = fv
			refs = append(refs, name)
		}
		if _, err := w.Exec(ctx, fmt.Sprintf(`create table ent as select (hash(range * 7) %% %d)::BIGINT as customer_id,
			timestamp '2021-01-01' + to_seconds((hash(range * 13) %% 31536000)::BIGINT) as event_timestamp, range %% 2 = 0 as label from range(%d)`, keys, entities)); err != nil {
			return err
		}
		s := &feature.Store{Registry: reg, Warehouse: w, Dir: filepath.Join(dir, "training_sets")} // recorded, as the CLI does
		r, err := reg.ParseRefs(refs)
		if err != nil {
			return err
		}
		out := filepath.Join(dir, "train.parquet")
		start := time.Now()
		ts, _, err := s.Historical(ctx, &feature.HistoricalRequest{EntitiesSQL: "select * from ent", Refs: r, FullFeatureNames: true, Out: out})
		if err != nil {
			return err
		}
		el := time.Since(start)
		fmt.Fprintf(a.stdout, "historical: %d entity rows x %d features from %d views of %d rows: %.2fs, %.0f entity rows/s; peak RSS %s\n",
			ts.Rows, len(r), views, rows, el.Seconds(), float64(ts.Rows)/el.Seconds(), vmHWM())
	}
	if want["materialize"] {
		fmt.Fprintf(a.stdout, "generating %d entities to materialize ...\n", onlineRows)
		if _, err := w.Exec(ctx, fmt.Sprintf(`create table wide as select range as customer_id, timestamp '2021-06-01' + to_seconds(range %% 86400) as ts,
			random() as f1, random() as f2, (random() * 100)::BIGINT as f3, random() as f4, random() as f5 from range(%d)`, onlineRows)); err != nil {
			return err
		}
		fv := &feature.View{Name: "wide", Keys: []string{"customer_id"}, Relation: `"main"."wide"`, Timestamp: "ts"}
		for _, f := range []string{"f1", "f2", "f3", "f4", "f5"} {
			fv.Features = append(fv.Features, feature.Feature{Name: f, Type: "float64"})
		}
		reg.Views["wide"] = fv
		online, err := kvstore.Open(filepath.Join(dir, "online.db"))
		if err != nil {
			return err
		}
		defer online.Close()
		s := &feature.Store{Registry: reg, Warehouse: w, Online: online}
		start := time.Now()
		res, err := s.Materialize(ctx, []string{"wide"}, time.Time{}, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), false, nil)
		if err != nil {
			return err
		}
		el := time.Since(start)
		st, _ := os.Stat(filepath.Join(dir, "online.db"))
		fmt.Fprintf(a.stdout, "materialize: %d entities x 5 features into the online store: %.2fs, %.0f rows/s (store file %d MB); peak RSS %s\n",
			res[0].Rows, el.Seconds(), float64(res[0].Rows)/el.Seconds(), st.Size()>>20, vmHWM())
	}
	return nil
}

// benchOnline generates a project with a view of `wide` features over
// 100,000 customers, builds and materializes it with the CLI, starts
// tandem serve, and loads POST /get-online-features at rate.
func (a *app) benchOnline(ctx context.Context, dir string, wide, rate, clients int, duration time.Duration) error {
	proj := filepath.Join(dir, "online")
	os.MkdirAll(filepath.Join(proj, "models"), 0o755)
	os.MkdirAll(filepath.Join(proj, "features"), 0o755)
	var cols, feats []string
	for i := 0; i < wide; i++ {
		cols = append(cols, fmt.Sprintf("round(random() * %d, 4) as f%02d", i+1, i))
		feats = append(feats, fmt.Sprintf("      - {name: f%02d, type: float64}", i))
	}
	files := map[string]string{
		"dbt_project.yml":   "name: online\nprofile: online\n",
		"models/wide.sql":   fmt.Sprintf("select range as customer_id, now()::TIMESTAMP - interval 1 hour as ts, %s from range(100000)", strings.Join(cols, ", ")),
		"features/wide.yml": fmt.Sprintf("entities:\n  - {name: customer, join_keys: [customer_id]}\nfeature_views:\n  - name: wide\n    entities: [customer]\n    source: wide\n    timestamp_field: ts\n    ttl: 1d\n    features:\n%s\n", strings.Join(feats, "\n")),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(proj, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	for _, args := range [][]string{{"build"}, {"features", "materialize", "--incremental"}} {
		if out, err := benchCLI(append(args, "--project-dir", proj)...).CombinedOutput(); err != nil {
			return fmt.Errorf("tandem %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	srv, err := serveProject(proj)
	if err != nil {
		return err
	}
	defer srv.stop()
	url, token := srv.url, srv.token
	featList := make([]string, wide)
	for i := range featList {
		featList[i] = fmt.Sprintf("wide:f%02d", i)
	}
	fmt.Fprintf(a.stdout, "online: %d clients, %d requests/s, 1 entity x %d features, %s, against %s\n", clients, rate, wide, duration, url)
	// Request bodies are built before the load: the generator shares the
	// server's 2 cores and should spend them on HTTP, not on JSON.
	bodies := make([][]byte, 4096)
	for i := range bodies {
		bodies[i], _ = json.Marshal(map[string]any{"features": featList, "entities": map[string][]int{"customer_id": {(i * 104729) % 100000}}})
	}
	res := runLoad(url, token, rate, clients, duration,
		func(c, i int) (string, string, []byte) {
			return "POST", "/get-online-features", bodies[(c*7919+i)%len(bodies)]
		},
		func(b []byte) bool { return bytes.Count(b, []byte(`"PRESENT"`)) == wide+1 })
	res.print(a.stdout, duration, "with every value present")
	fmt.Fprintf(a.stdout, "  tandem serve peak RSS: %s\n", peakRSS(srv.pid))
	return nil
}

// loadResult is what runLoad measured.
type loadResult struct {
	server, client []time.Duration
	failed, good   int64
}

// runLoad sends requests at rate per second from clients connections
// for duration, each client on a bare keep-alive connection; next gives
// client c's i-th request, good says whether a 200's body is right. It
// records the client's latency and the server's own (Server-Timing).
func runLoad(url, token string, rate, clients int, duration time.Duration, next func(c, i int) (method, path string, body []byte), good func([]byte) bool) *loadResult {
	var mu sync.Mutex
	res := &loadResult{}
	var failed, ok atomic.Int64
	interval := time.Duration(float64(time.Second) * float64(clients) / float64(rate))
	end := time.Now().Add(duration)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			// A bare HTTP/1.1 keep-alive connection per client, as wrk
			// uses: net/http's client costs more CPU per request than the
			// server it measures, on the cores they share.
			var conn *rawConn
			var err error
			var ls, lc []time.Duration
			at := time.Now().Add(time.Duration(c) * interval / time.Duration(clients))
			for i := 0; time.Now().Before(end); i++ {
				time.Sleep(time.Until(at))
				at = at.Add(interval)
				if conn == nil {
					if conn, err = dialRaw(url); err != nil {
						failed.Add(1)
						continue
					}
				}
				method, path, body := next(c, i)
				t0 := time.Now()
				status, timing, b, err := conn.do(method, path, token, body)
				if err != nil {
					failed.Add(1)
					conn.Close()
					conn = nil
					continue
				}
				lc = append(lc, time.Since(t0))
				if status != 200 {
					failed.Add(1)
					continue
				}
				if good(b) {
					ok.Add(1)
				}
				if ms, err := strconv.ParseFloat(strings.TrimPrefix(timing, "app;dur="), 64); err == nil {
					ls = append(ls, time.Duration(ms*float64(time.Millisecond)))
				}
			}
			if conn != nil {
				conn.Close()
			}
			mu.Lock()
			res.server, res.client = append(res.server, ls...), append(res.client, lc...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	res.failed, res.good = failed.Load(), ok.Load()
	sort.Slice(res.server, func(i, j int) bool { return res.server[i] < res.server[j] })
	return res
}

func (r *loadResult) print(w io.Writer, duration time.Duration, goodMeans string) {
	fmt.Fprintf(w, "  %d requests (%.0f/s), %d %s, %d failed\n", len(r.client), float64(len(r.client))/duration.Seconds(), r.good, goodMeans, r.failed)
	fmt.Fprintf(w, "  server (Server-Timing): p50 %s, p99 %s, p99.9 %s\n", fmtMS(percentile(r.server, 0.5)), fmtMS(percentile(r.server, 0.99)), fmtMS(percentile(r.server, 0.999)))
	if len(r.client) > 0 {
		fmt.Fprintf(w, "  client: %s\n", latencyLine(r.client))
	}
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

// rawConn is one HTTP/1.1 keep-alive connection that sends prepared
// requests and reads the status, the Server-Timing header and the body.
type rawConn struct {
	net.Conn
	r   *bufio.Reader
	req []byte
}

func dialRaw(url string) (*rawConn, error) {
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (c *rawConn) do(method, path, token string, body []byte) (status int, timing string, resp []byte, err error) {
	c.req = fmt.Appendf(c.req[:0], "%s %s HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", method, path, token, len(body))
	c.req = append(c.req, body...)
	if _, err = c.Write(c.req); err != nil {
		return
	}
	length := -1
	for first := true; ; first = false {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, "", nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if first {
			if f := bytes.Fields(line); len(f) >= 2 {
				status, _ = strconv.Atoi(string(f[1]))
			}
			continue
		}
		if len(line) == 0 {
			break
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Server-Timing")):
			timing = string(v)
		}
	}
	if length < 0 {
		return status, timing, nil, fmt.Errorf("response without Content-Length")
	}
	resp = make([]byte, length)
	_, err = io.ReadFull(c.r, resp)
	return status, timing, resp, err
}
