package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

// TestSnapshotOverThreeRuns: a timestamp snapshot and a check snapshot of
// the same source, with hard deletes invalidated, over three runs that
// insert, update and delete rows, end with dbt's history (issue 15).
func TestSnapshotOverThreeRuns(t *testing.T) {
	r, _ := newRunner(t, map[string]string{
		"seeds/customers.csv": "id,name,tier,updated_at\n1,ann,gold,2024-01-01 00:00:00\n2,bob,silver,2024-01-01 00:00:00\n",
		"snapshots/customers_snap.sql": `{% snapshot customers_ts %}
{{ config(target_schema='snapshots', unique_key='id', strategy='timestamp', updated_at='updated_at', invalidate_hard_deletes=True) }}
select * from {{ ref('customers') }}
{% endsnapshot %}

{% snapshot customers_check %}
{{ config(target_schema='snapshots', unique_key=['id'], strategy='check', check_cols=['tier'], hard_deletes='invalidate') }}
select id, name, tier from {{ ref('customers') }}
{% endsnapshot %}`,
		"models/current_customers.sql": "select id, name, tier from {{ ref('customers_ts') }} where dbt_valid_to is null",
	})
	ctx := context.Background()
	seed := filepath.Join(r.Project.Dir, "seeds", "customers.csv")
	build := func(step string, csv string, at time.Time) {
		t.Helper()
		if err := os.WriteFile(seed, []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		r.Clock = func() time.Time { return at }
		run, err := r.Run(ctx, &tandem.Run{Command: "build"}, r.Project.Order)
		if err != nil || run.Status != tandem.StatusSuccess {
			for _, res := range run.Nodes {
				t.Logf("%s: %s %s\n%s", res.Node, res.Status, res.Message, res.CompiledSQL)
			}
			t.Fatalf("%s: %v %v", step, err, run.Status)
		}
	}
	day := func(d int) time.Time { return time.Date(2024, 1, d, 12, 0, 0, 0, time.UTC) }
	// Run 1: two customers.
	build("run 1", "id,name,tier,updated_at\n1,ann,gold,2024-01-01 00:00:00\n2,bob,silver,2024-01-01 00:00:00\n", day(1))
	// Run 2: ann's tier changes (updated_at moves), carl arrives, bob is unchanged.
	build("run 2", "id,name,tier,updated_at\n1,ann,platinum,2024-01-02 00:00:00\n2,bob,silver,2024-01-01 00:00:00\n3,carl,bronze,2024-01-02 00:00:00\n", day(2))
	// Run 3: bob is deleted; carl's name changes but not his tier (the check
	// snapshot watches tier only); ann is unchanged.
	build("run 3", "id,name,tier,updated_at\n1,ann,platinum,2024-01-02 00:00:00\n3,karl,bronze,2024-01-03 00:00:00\n", day(3))

	history := func(table string) string {
		rows, err := r.Warehouse.Query(ctx, `select id, name, tier, strftime(dbt_valid_from, '%m-%d %H'), coalesce(strftime(dbt_valid_to, '%m-%d %H'), 'current'), length(dbt_scd_id) from snapshots.`+table+` order by id, dbt_valid_from`, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, row := range rows.Rows {
			parts := make([]string, len(row))
			for i, v := range row {
				parts[i] = fmtAny(v)
			}
			out = append(out, strings.Join(parts, " "))
		}
		return strings.Join(out, "\n")
	}
	wantTS := `1 ann gold 01-01 00 01-02 00
1 ann platinum 01-02 00 current 32
2 bob silver 01-01 00 01-03 12 32
3 carl bronze 01-02 00 01-03 00 32
3 karl bronze 01-03 00 current 32`
	wantTS = strings.Replace(wantTS, "01-02 00\n", "01-02 00 32\n", 1)
	if got := history("customers_ts"); got != wantTS {
		t.Errorf("timestamp snapshot:\n%s\nwant:\n%s", got, wantTS)
	}
	wantCheck := `1 ann gold 01-01 12 01-02 12 32
1 ann platinum 01-02 12 current 32
2 bob silver 01-01 12 01-03 12 32
3 carl bronze 01-02 12 current 32`
	if got := history("customers_check"); got != wantCheck {
		t.Errorf("check snapshot:\n%s\nwant:\n%s", got, wantCheck)
	}
	cur, err := r.Warehouse.Query(ctx, `select string_agg(name, ',' order by id) from main.current_customers`, 0)
	if err != nil || fmtAny(cur.Rows[0][0]) != "ann,karl" {
		t.Errorf("a model reading the snapshot: %v %v", cur, err)
	}
}
