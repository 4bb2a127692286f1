package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem/examples"
	"github.com/tandem-data/tandem/http"
)

// benchSrv is a tandem serve started by a bench command.
type benchSrv struct {
	url, token, key string
	pid             int
	stop            func()
}

// benchServer starts `tandem serve` on a fresh copy of the shop example,
// built, with an admin token and a write key.
func (a *app) benchServer(ctx context.Context) (*benchSrv, error) {
	dir, err := os.MkdirTemp("", "tandem-bench-serve-")
	if err != nil {
		return nil, err
	}
	proj := filepath.Join(dir, "shop")
	if err := examples.Write("shop", proj); err != nil {
		return nil, err
	}
	fmt.Fprintf(a.stdout, "building the shop example in %s ...\n", proj)
	if out, err := benchCLI("build", "--project-dir", proj).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %v\n%s", err, out)
	}
	srv, err := serveProject(proj)
	if err != nil {
		return nil, err
	}
	stop := srv.stop
	srv.stop = func() { stop(); os.RemoveAll(dir) }
	return srv, nil
}

// benchCLI is this binary as the tandem CLI.
func benchCLI(args ...string) *exec.Cmd {
	self, _ := os.Executable()
	c := exec.Command(self, args...)
	c.Env = append(os.Environ(), "TANDEM_BE_CLI=1")
	return c
}

// serveProject starts `tandem serve` on a built project, with an admin
// token and a write key, and waits until it answers.
func serveProject(proj string) (*benchSrv, error) {
	out, err := benchCLI("token", "create", "--role", "admin", "--project-dir", proj).Output()
	if err != nil {
		return nil, err
	}
	srv := &benchSrv{token: strings.TrimSpace(string(out))}
	if out, err = benchCLI("key", "create", "--source", "bench", "--project-dir", proj).Output(); err != nil {
		return nil, err
	}
	srv.key = strings.TrimSpace(string(out))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	proc := benchCLI("serve", "--project-dir", proj, "--addr", addr)
	// TANDEM_BENCH_SERVER_CPUS=0 pins the server to core 0 (with the load
	// generator pinned elsewhere by `taskset -c 1 tandem bench ...`), so
	// the two do not take turns on the same core.
	if cpus := os.Getenv("TANDEM_BENCH_SERVER_CPUS"); cpus != "" {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("TANDEM_BENCH_SERVER_CPUS needs taskset (util-linux): %v", err)
		}
		proc.Path, proc.Args = ts, append([]string{"taskset", "-c", cpus}, proc.Args...)
	}
	proc.Stderr = io.Discard
	if err := proc.Start(); err != nil {
		return nil, err
	}
	srv.pid = proc.Process.Pid
	srv.stop = func() { proc.Process.Kill(); proc.Wait() }
	srv.url = "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := nethttp.Get(srv.url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			srv.stop()
			return nil, fmt.Errorf("tandem serve did not start")
		}
	}
	return srv, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d)-1) * p)
	return d[i]
}

func latencyLine(d []time.Duration) string {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return fmt.Sprintf("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms over %d requests",
		ms(percentile(d, .5)), ms(percentile(d, .9)), ms(percentile(d, .99)), ms(d[len(d)-1]), len(d))
}

func (a *app) benchAPICommand() *cobra.Command {
	var clients int
	var duration time.Duration
	c := &cobra.Command{
		Use:   "api",
		Short: "Load the HTTP API of a real tandem serve (shop example) with concurrent clients: GET a node, GET a run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, err := a.benchServer(cmd.Context())
			if err != nil {
				return err
			}
			defer srv.stop()
			url, token := srv.url, srv.token
			get := func(client *nethttp.Client, path string) (time.Duration, error) {
				req, _ := nethttp.NewRequest("GET", url+path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					return 0, err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return 0, fmt.Errorf("GET %s: %s", path, resp.Status)
				}
				return time.Since(start), nil
			}
			var runs struct{ Runs []struct{ ID string } }
			req, _ := nethttp.NewRequest("GET", url+"/api/v1/runs?limit=1", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := nethttp.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			json.NewDecoder(resp.Body).Decode(&runs)
			resp.Body.Close()
			paths := []string{"/api/v1/nodes/orders", "/api/v1/runs/" + runs.Runs[0].ID}
			// Warm up connections and caches.
			warm := &nethttp.Client{}
			for i := 0; i < 100; i++ {
				get(warm, paths[i%2])
			}
			fmt.Fprintf(a.stdout, "%d clients for %s on loopback against %s\n", clients, duration, url)
			var mu sync.Mutex
			lat := map[string][]time.Duration{}
			var firstErr error
			end := time.Now().Add(duration)
			var wg sync.WaitGroup
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(c int) {
					defer wg.Done()
					client := &nethttp.Client{Transport: &nethttp.Transport{MaxIdleConnsPerHost: 1}}
					var local = map[string][]time.Duration{}
					for i := c; time.Now().Before(end); i++ {
						p := paths[i%2]
						d, err := get(client, p)
						if err != nil {
							mu.Lock()
							if firstErr == nil {
								firstErr = err
							}
							mu.Unlock()
							return
						}
						local[p] = append(local[p], d)
					}
					mu.Lock()
					for p, ds := range local {
						lat[p] = append(lat[p], ds...)
					}
					mu.Unlock()
				}(c)
			}
			wg.Wait()
			if firstErr != nil {
				return firstErr
			}
			total := 0
			for _, p := range paths {
				total += len(lat[p])
				label := "GET a node"
				if strings.Contains(p, "/runs/") {
					label = "GET a run (35 node results)"
				}
				fmt.Fprintf(a.stdout, "  %-28s %s\n", label, latencyLine(lat[p]))
			}
			fmt.Fprintf(a.stdout, "  throughput: %.0f requests/s\n", float64(total)/duration.Seconds())
			return nil
		},
	}
	c.Flags().IntVar(&clients, "clients", 50, "concurrent clients")
	c.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long to load")
	return c
}

func (a *app) benchTriggerCommand() *cobra.Command {
	var runs int
	c := &cobra.Command{
		Use:   "trigger",
		Short: "Time from triggering a job through the API to its first node starting, on a real tandem serve",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, err := a.benchServer(cmd.Context())
			if err != nil {
				return err
			}
			defer srv.stop()
			url, token := srv.url, srv.token
			call := func(method, path string, out any) error {
				req, _ := nethttp.NewRequest(method, url+path, strings.NewReader("{}"))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := nethttp.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				return json.NewDecoder(resp.Body).Decode(out)
			}
			var lat []time.Duration
			for i := 0; i < runs; i++ {
				sent := time.Now()
				var run struct{ ID string }
				if err := call("POST", "/api/v1/jobs/hourly_marts/trigger", &run); err != nil {
					return err
				}
				// Follow the run's log; its first "started" line is stamped by
				// the server when the first node starts.
				req, _ := nethttp.NewRequest("GET", url+"/api/v1/runs/"+run.ID+"/logs?follow=1", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := nethttp.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				sc := bufio.NewScanner(resp.Body)
				var first time.Time
				for sc.Scan() {
					var l http.LogLine
					json.Unmarshal(sc.Bytes(), &l)
					if first.IsZero() && strings.HasPrefix(l.Msg, "started ") {
						first = l.At
					}
				}
				resp.Body.Close()
				if first.IsZero() {
					return fmt.Errorf("run %s started no node", run.ID)
				}
				lat = append(lat, first.Sub(sent))
			}
			fmt.Fprintf(a.stdout, "trigger (POST /api/v1/jobs/hourly_marts/trigger) to first node started: %s\n", latencyLine(lat))
			return nil
		},
	}
	c.Flags().IntVar(&runs, "runs", 30, "triggers, one after the other")
	return c
}
