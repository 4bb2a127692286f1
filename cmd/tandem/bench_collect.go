package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/eventlog"
	"github.com/tandem-data/tandem/examples"
)

// segmentEvent is a Segment-shaped track call of about 500 bytes; bad ones
// break the shop's tracking plan (a missing product_id).
func segmentEvent(client, n int, bad bool) json.RawMessage {
	pid := fmt.Sprintf("%05d", 10000+n%3000)
	props := fmt.Sprintf(`"product_id": %q, "name": "WHITE HANGING HEART T-LIGHT HOLDER", "price": 2.55, "currency": "GBP", "category": "home", "url": "https://shop.example/p/%s"`, pid, pid)
	if bad {
		props = `"name": "no product id", "price": "2.55"`
	}
	return json.RawMessage(fmt.Sprintf(`{"type": "track", "messageId": "bench-%d-RRRRRRRRRRRR-%d", "anonymousId": "anon-%d", "event": "Product Viewed",
"timestamp": %q, "properties": {%s}, "context": {"ip": "10.1.%d.%d", "library": {"name": "analytics-node", "version": "2.3.0"},
"userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}}`,
		client, n, client*1000+n%1000, time.Now().UTC().Format(time.RFC3339Nano), props, client%256, n%256))
}

// template is a request body whose message ids get a fresh counter for
// every request, so no event is a duplicate (duplicates skip the log).
type template struct {
	body []byte
	at   []int // where each RRRRRRRRRRRR is
}

func newTemplate(body []byte) *template {
	t := &template{body: body}
	for i := 0; ; {
		j := bytes.Index(body[i:], []byte("RRRRRRRRRRRR"))
		if j < 0 {
			return t
		}
		t.at = append(t.at, i+j)
		i += j + 12
	}
}

// fill copies the template with counter n in every message id.
func (t *template) fill(n int64, buf []byte) []byte {
	buf = append(buf[:0], t.body...)
	digits := fmt.Sprintf("%012d", n)
	for _, at := range t.at {
		copy(buf[at:], digits)
	}
	return buf
}

func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "?"
}

func (a *app) benchCollectCommand() *cobra.Command {
	var rate, batch, clients int
	var duration time.Duration
	var bad float64
	var ceiling bool
	c := &cobra.Command{
		Use:   "collect",
		Short: "Load the Segment API of a real tandem serve: events/s acknowledged after fsync, ack latency, peak memory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			batches := make([][]json.RawMessage, 64) // prebuilt, so the generator costs little
			for i := range batches {
				for j := 0; j < batch; j++ {
					batches[i] = append(batches[i], segmentEvent(i, j, bad > 0 && float64((i*batch+j)%1000) < bad*1000))
				}
			}
			var ceil float64
			if ceiling {
				var err error
				if ceil, err = a.collectCeiling(cmd.Context(), batches, clients, duration); err != nil {
					return err
				}
			}
			srv, err := a.benchServer(cmd.Context())
			if err != nil {
				return err
			}
			defer srv.stop()
			url, pid, key := srv.url, srv.pid, srv.key
			fmt.Fprintf(a.stdout, "%d clients, batches of %d, %s, target rate %s, %.1f%% bad events, against %s\n", clients, batch, duration, rateText(rate), bad*100, url)
			templates := make([]*template, len(batches))
			for i, b := range batches {
				body, _ := json.Marshal(map[string]any{"batch": b})
				templates[i] = newTemplate(body)
			}
			var counter atomic.Int64
			var acked, quarantined, dups, failed atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			failures := map[string]int{} // why requests failed, and how often
			end := time.Now().Add(duration)
			var wg sync.WaitGroup
			interval := time.Duration(0)
			if rate > 0 {
				interval = time.Duration(float64(time.Second) * float64(batch*clients) / float64(rate))
			}
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					client := &nethttp.Client{Transport: &nethttp.Transport{MaxIdleConnsPerHost: 1}}
					var local []time.Duration
					var buf []byte
					next := time.Now().Add(time.Duration(c) * interval / time.Duration(clients))
					for i := c; time.Now().Before(end); i += clients {
						if interval > 0 {
							time.Sleep(time.Until(next))
							next = next.Add(interval)
						}
						buf = templates[i%len(templates)].fill(counter.Add(1), buf)
						req, _ := nethttp.NewRequest("POST", url+"/v1/batch", bytes.NewReader(buf))
						req.SetBasicAuth(key, "")
						start := time.Now()
						resp, err := client.Do(req)
						if err != nil {
							failed.Add(1)
							mu.Lock()
							failures[err.Error()]++
							mu.Unlock()
							continue
						}
						var r struct {
							collect.Response
							Error string `json:"error"`
						}
						json.NewDecoder(resp.Body).Decode(&r)
						resp.Body.Close()
						local = append(local, time.Since(start))
						if resp.StatusCode != 200 {
							failed.Add(1)
							mu.Lock()
							failures[fmt.Sprintf("%d %s", resp.StatusCode, r.Error)]++
							mu.Unlock()
							continue
						}
						acked.Add(int64(r.Accepted))
						quarantined.Add(int64(r.Quarantined))
						dups.Add(int64(r.Duplicates))
					}
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
				}(c)
			}
			wg.Wait()
			total := float64(acked.Load()+quarantined.Load()) / duration.Seconds()
			fmt.Fprintf(a.stdout, "  acknowledged (fsynced) %.0f events/s: %d accepted, %d quarantined, %d duplicates (should be 0), %d failed requests\n",
				total, acked.Load(), quarantined.Load(), dups.Load(), failed.Load())
			for why, n := range failures {
				fmt.Fprintf(a.stdout, "    %d failed: %s\n", n, why)
			}
			fmt.Fprintf(a.stdout, "  ack latency per batch: %s\n", latencyLine(lat))
			fmt.Fprintf(a.stdout, "  tandem serve peak RSS: %s\n", peakRSS(pid))
			// The loader shares the machine: how far it got during the load,
			// how long it took to catch up, and the end-to-end latency.
			m, err := scrape(url, srv.token)
			if err != nil {
				return err
			}
			loadedDuring := m["tandem_collect_loaded_total"]
			caughtUp := time.Now()
			for m["tandem_collect_loader_lag_records"] > 0 && time.Since(caughtUp) < 5*time.Minute {
				time.Sleep(200 * time.Millisecond)
				if m, err = scrape(url, srv.token); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.stdout, "  loader: %.0f records/s during the load; caught up %.1fs after it (lag now %.0f)\n",
				loadedDuring/duration.Seconds(), time.Since(caughtUp).Seconds(), m["tandem_collect_loader_lag_records"])
			fmt.Fprintf(a.stdout, "  end to end (received -> committed in the warehouse), from the histogram's buckets: p50 <= %s, p99 <= %s\n",
				bucketQuantile(m, "tandem_collect_end_to_end_seconds", 0.5), bucketQuantile(m, "tandem_collect_end_to_end_seconds", 0.99))
			if ceil > 0 {
				fmt.Fprintf(a.stdout, "  HTTP / in-process ceiling: %.2f\n", total/ceil)
			}
			return nil
		},
	}
	c.Flags().IntVar(&rate, "rate", 0, "events/s to send (0: as fast as acknowledged)")
	c.Flags().IntVar(&batch, "batch", 100, "events per batch")
	c.Flags().IntVar(&clients, "clients", 8, "concurrent clients")
	c.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long to load")
	c.Flags().Float64Var(&bad, "bad", 0.02, "share of events that break the tracking plan")
	c.Flags().BoolVar(&ceiling, "ceiling", true, "first measure the same batches decoded, validated and appended in-process, without HTTP")
	return c
}

func rateText(r int) string {
	if r == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%d events/s", r)
}

// collectCeiling measures Collector.Collect on a fresh log, without HTTP.
func (a *app) collectCeiling(ctx context.Context, batches [][]json.RawMessage, clients int, duration time.Duration) (float64, error) {
	dir, err := os.MkdirTemp("", "tandem-bench-ceiling-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	plan, err := collect.LoadPlan(filepath.Join(dir, "none"))
	if err != nil {
		return 0, err
	}
	shopPlan, _ := os.MkdirTemp("", "tandem-plan-")
	defer os.RemoveAll(shopPlan)
	if p, err := benchPlan(shopPlan); err == nil {
		plan = p
	}
	log, err := eventlog.Open(filepath.Join(dir, "log"), eventlog.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, err
	}
	defer log.Close()
	c := &collect.Collector{Log: log, Plan: func() *collect.Plan { return plan }, Clock: time.Now, Dedup: collect.NewDedup(7 * 24 * time.Hour)}
	var n, counter atomic.Int64
	templates := make([]*template, len(batches))
	for i, b := range batches {
		body, _ := json.Marshal(map[string]any{"batch": b})
		templates[i] = newTemplate(body)
	}
	end := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var buf []byte
			for i := w; time.Now().Before(end); i += clients {
				buf = templates[i%len(templates)].fill(counter.Add(1), buf)
				r, err := c.CollectBody(ctx, "bench", "batch", buf) // what the handler does after authentication
				if err == nil {
					n.Add(int64(r.Accepted + r.Quarantined))
				}
			}
		}(w)
	}
	wg.Wait()
	rate := float64(n.Load()) / duration.Seconds()
	fmt.Fprintf(a.stdout, "ceiling: decoded, validated and appended (fsynced) in-process: %.0f events/s\n", rate)
	return rate, nil
}

func benchPlan(dir string) (*collect.Plan, error) {
	if err := examples.Write("shop", filepath.Join(dir, "shop")); err != nil {
		return nil, err
	}
	return collect.LoadPlan(filepath.Join(dir, "shop"))
}

// scrape reads the server's Prometheus metrics into name{labels} -> value.
func scrape(url, token string) (map[string]float64, error) {
	req, _ := nethttp.NewRequest("GET", url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		var v float64
		fmt.Sscan(line[i+1:], &v)
		out[line[:i]] = v
	}
	return out, nil
}

// bucketQuantile is the upper bound of the histogram bucket that holds
// quantile q (what a histogram can say without interpolating).
func bucketQuantile(m map[string]float64, name string, q float64) string {
	total := m[name+"_count"]
	if total == 0 {
		return "?"
	}
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, name+`_bucket{le="`); ok {
			var le float64
			if _, err := fmt.Sscan(strings.TrimSuffix(rest, `"}`), &le); err == nil {
				bs = append(bs, bucket{le, v})
			}
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	for _, b := range bs {
		if b.n >= q*total {
			return fmt.Sprintf("%gs", b.le)
		}
	}
	return "+Inf"
}
