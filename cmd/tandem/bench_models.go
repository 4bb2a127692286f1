package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem/examples"
	"github.com/tandem-data/tandem/ml"
)

func (a *app) benchModelsCommand() *cobra.Command {
	var model, endpoint string
	var rate, clients, k int
	var unknown float64
	var duration time.Duration
	c := &cobra.Command{
		Use:   "models",
		Short: "Model serving under load: recommend (or similar) on the shop's real customers, against a real tandem serve",
		Long: `Builds the shop example, trains and promotes popular_products (the fallback) and
--model, starts tandem serve, and sends GET /api/v1/models/NAME/recommend?user=&k= for
the model's real customers (a share --unknown of them unknown, answered by the
fallback) at --rate requests/s; prints server (Server-Timing) and client latency.`,
		Example: `  tandem bench models --model product_recs --rate 2000 --duration 30s`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.MkdirTemp("", "tandem-bench-models-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			proj := filepath.Join(dir, "shop")
			if err := examples.Write("shop", proj); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "building the shop example and training %s ...\n", model)
			for _, args := range [][]string{{"build"}, {"ml", "train", "popular_products", "--promote"}, {"ml", "train", model, "--promote"}} {
				if out, err := benchCLI(append(args, "--project-dir", proj)...).CombinedOutput(); err != nil {
					return fmt.Errorf("tandem %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			reg := &ml.Registry{Dir: filepath.Join(proj, "target", "models")}
			al, err := reg.Aliases(model)
			if err != nil {
				return err
			}
			art, err := reg.Artifact(model, al.Production)
			if err != nil {
				return err
			}
			if art.Predictor != nil {
				return fmt.Errorf("%s is a predictor; this load test calls recommenders", model)
			}
			// Paths are built before the load: the generator shares the
			// server's cores.
			paths := make([]string, 8192)
			for i := range paths {
				switch {
				case endpoint == "similar":
					paths[i] = fmt.Sprintf("/api/v1/models/%s/similar?item=%s&k=%d", model, url.QueryEscape(art.Items[(i*7919)%len(art.Items)]), k)
				case float64(i%1000) < unknown*1000:
					paths[i] = fmt.Sprintf("/api/v1/models/%s/recommend?user=unknown-%d&k=%d", model, i, k)
				default:
					paths[i] = fmt.Sprintf("/api/v1/models/%s/recommend?user=%s&k=%d", model, url.QueryEscape(art.Users[(i*104729)%len(art.Users)]), k)
				}
			}
			srv, err := serveProject(proj)
			if err != nil {
				return err
			}
			defer srv.stop()
			fmt.Fprintf(a.stdout, "%s: %s v%d (%s, %d users, %d items), %d clients, %d requests/s, k=%d, %s, against %s\n",
				endpoint, model, al.Production, art.Algorithm, len(art.Users), len(art.Items), clients, rate, k, duration, srv.url)
			res := runLoad(srv.url, srv.token, rate, clients, duration,
				func(c, i int) (string, string, []byte) { return "GET", paths[(c*7919+i)%len(paths)], nil },
				func(b []byte) bool {
					return bytes.Count(b, []byte(`"item":`)) == k && bytes.Contains(b, []byte(`"version":`))
				})
			res.print(a.stdout, duration, fmt.Sprintf("with %d items and the version", k))
			fmt.Fprintf(a.stdout, "  tandem serve peak RSS: %s\n", peakRSS(srv.pid))
			return nil
		},
	}
	c.Flags().StringVar(&model, "model", "product_recs", "the shop's recommender to serve")
	c.Flags().StringVar(&endpoint, "endpoint", "recommend", "recommend or similar")
	c.Flags().IntVar(&rate, "rate", 2000, "requests/s")
	c.Flags().IntVar(&clients, "clients", 16, "concurrent clients")
	c.Flags().IntVar(&k, "k", 10, "items per answer")
	c.Flags().Float64Var(&unknown, "unknown", 0.1, "share of requests for unknown users (answered by the fallback)")
	c.Flags().DurationVar(&duration, "duration", 20*time.Second, "how long to load the server")
	return c
}
