package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/collect"
	"github.com/tandem-data/tandem/duckdb"
	"github.com/tandem-data/tandem/examples"
)

func (a *app) eventsGenerateCommand() *cobra.Command {
	var url, key string
	var orders, batch int
	var seed uint64
	var bad float64
	c := &cobra.Command{
		Use:   "generate --key WRITE_KEY",
		Short: "Send a clickstream made from the shop's real orders to a running tandem serve",
		Long: `Reads the first --orders invoices of the Online Retail data in the project
(data/online-retail) and sends, through the Segment API of tandem serve, the
clickstream a website would have produced around them: views and clicks
before each purchase, browsing, cart adds, abandoned carts, checkout and the
order, with a share of malformed events (--bad) that the tracking plan
quarantines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				return tandem.Errorf(tandem.EINVALID, "--key: a write key (`tandem key create --source web`)")
			}
			p, err := a.loadProject()
			if err != nil {
				return err
			}
			if url == "" {
				url = "http://" + p.Settings.Serve.Addr
			}
			// The data is read with a DuckDB of its own, not the warehouse that
			// tandem serve holds.
			db, err := duckdb.Open(":memory:", duckdb.Options{SearchPath: p.Dir})
			if err != nil {
				return err
			}
			defer db.Close()
			const clean = `from read_csv('data/online-retail/*.csv.gz', header = true, columns = {'InvoiceNo': 'VARCHAR', 'StockCode': 'VARCHAR',
				'Description': 'VARCHAR', 'Quantity': 'INTEGER', 'InvoiceDate': 'TIMESTAMP', 'UnitPrice': 'DOUBLE', 'CustomerID': 'DOUBLE', 'Country': 'VARCHAR'})
				where CustomerID is not null and not starts_with(InvoiceNo, 'C') and Quantity > 0 and UnitPrice > 0 and regexp_matches(StockCode, '^[0-9]{5}')`
			rows, err := db.Query(cmd.Context(), fmt.Sprintf(`with lines as (select * %s),
				first as (select InvoiceNo from lines group by InvoiceNo order by min(InvoiceDate), InvoiceNo limit %d)
				select l.InvoiceNo, cast(CustomerID as bigint)::varchar, strftime(min(InvoiceDate), '%%Y-%%m-%%dT%%H:%%M:%%SZ'), StockCode,
				       any_value(Description), sum(Quantity)::int, max(UnitPrice)
				from lines l join first using (InvoiceNo) group by all order by 3, 1, 4`, clean, orders), 0)
			if err != nil {
				return tandem.Errorf(tandem.EINVALID, "reading data/online-retail in %s: %v", p.Dir, err)
			}
			var list []examples.Order
			idx := map[string]int{}
			for _, r := range rows.Rows {
				inv := fmt.Sprint(r[0])
				i, ok := idx[inv]
				if !ok {
					at, _ := time.Parse(time.RFC3339, fmt.Sprint(r[2]))
					list = append(list, examples.Order{InvoiceNo: inv, CustomerID: fmt.Sprint(r[1]), At: at})
					i = len(list) - 1
					idx[inv] = i
				}
				qty, _ := strconv.Atoi(fmt.Sprint(r[5]))
				price, _ := strconv.ParseFloat(fmt.Sprint(r[6]), 64)
				list[i].Lines = append(list[i].Lines, examples.Line{StockCode: fmt.Sprint(r[3]), Description: fmt.Sprint(r[4]), Quantity: qty, Price: price})
			}
			cat, err := db.Query(cmd.Context(), `select StockCode, any_value(Description), median(UnitPrice) `+clean+` group by 1 order by 1`, 0)
			if err != nil {
				return err
			}
			var catalog []examples.Line
			for _, r := range cat.Rows {
				price, _ := strconv.ParseFloat(fmt.Sprint(r[2]), 64)
				catalog = append(catalog, examples.Line{StockCode: fmt.Sprint(r[0]), Description: fmt.Sprint(r[1]), Price: price})
			}
			events := examples.Clickstream(list, catalog, seed, bad)
			total := collect.Response{}
			for start := 0; start < len(events); start += batch {
				body, _ := json.Marshal(map[string]any{"batch": events[start:min(start+batch, len(events))]})
				req, _ := nethttp.NewRequestWithContext(cmd.Context(), "POST", url+"/v1/batch", bytes.NewReader(body))
				req.SetBasicAuth(key, "")
				resp, err := nethttp.DefaultClient.Do(req)
				if err != nil {
					return tandem.Errorf(tandem.EUNAVAILABLE, "sending to %s: %v; is `tandem serve` running there?", url, err)
				}
				var r collect.Response
				json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return tandem.Errorf(tandem.EUNAVAILABLE, "%s answered %s", url, resp.Status)
				}
				total.Accepted += r.Accepted
				total.Quarantined += r.Quarantined
				total.Duplicates += r.Duplicates
			}
			if a.output == "json" {
				return a.printJSON(map[string]any{"orders": len(list), "events": len(events), "accepted": total.Accepted, "quarantined": total.Quarantined, "duplicates": total.Duplicates})
			}
			fmt.Fprintf(a.stdout, "Sent %d events around %d real orders to %s: %d accepted, %d quarantined, %d duplicates.\n",
				len(events), len(list), url, total.Accepted, total.Quarantined, total.Duplicates)
			return nil
		},
	}
	c.Flags().StringVar(&url, "url", "", "tandem serve (default: serve.addr in tandem.yaml)")
	c.Flags().StringVar(&key, "key", "", "write key of the source")
	c.Flags().IntVar(&orders, "orders", 500, "real orders to build sessions around")
	c.Flags().IntVar(&batch, "batch", 100, "events per request")
	c.Flags().Uint64Var(&seed, "seed", 1, "random seed (the same seed sends the same events)")
	c.Flags().Float64Var(&bad, "bad", 0.02, "share of events that break the tracking plan")
	return c
}
