package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/tandem-data/tandem"
)

// TestUnitTests: dbt's unit_tests (given rows for ref() and source(), in
// dict, csv and sql formats, expected rows, overrides of vars and
// is_incremental) run in build and test: a correct expectation passes, a
// wrong one fails and shows the rows that differ (issue 15).
func TestUnitTests(t *testing.T) {
	r, _ := newRunner(t, map[string]string{
		"seeds/customers.csv": "id,email,signup_day\n1,a@x.com,2024-01-01\n",
		"seeds/domains.csv":   "tld\nx.com\n",
		"models/sources.yml": `version: 2
sources:
  - name: shop
    tables:
      - name: orders
        meta: {external_location: "(select 1 as order_id, 1 as customer_id, 10.0 as amount)"}
`,
		"models/valid_customers.sql": `{{ config(materialized='incremental', unique_key='id') }}
select c.id, c.email, split_part(c.email, '@', 2) in (select tld from {{ ref('domains') }}) as valid_email,
  (select coalesce(sum(amount), 0) from {{ source('shop', 'orders') }} o where o.customer_id = c.id) * {{ var('rate', 1) }} as spent
from {{ ref('customers') }} c
{% if is_incremental() %}where c.id > 100{% endif %}`,
		"models/unit.yml": `version: 2
unit_tests:
  - name: emails_are_checked
    model: valid_customers
    overrides:
      vars: {rate: 2}
    given:
      - input: ref('customers')
        rows:
          - {id: 1, email: ann@x.com}
          - {id: 2, email: bob@nowhere.org}
      - input: ref('domains')
        format: csv
        rows: |
          tld
          x.com
      - input: source('shop', 'orders')
        format: sql
        rows: select 7 as order_id, 1 as customer_id, 5.5 as amount
    expect:
      rows:
        - {id: 1, valid_email: true, spent: 11.0}
        - {id: 2, valid_email: false, spent: 0}
  - name: incremental_filter
    model: valid_customers
    overrides:
      macros: {is_incremental: true}
    given:
      - input: ref('customers')
        rows:
          - {id: 5, email: a@x.com}
          - {id: 500, email: b@x.com}
      - input: ref('domains')
        rows: []
      - input: source('shop', 'orders')
        rows: []
    expect:
      rows:
        - {id: 500}
  - name: wrong_on_purpose
    model: valid_customers
    given:
      - input: ref('customers')
        rows: [{id: 1, email: ann@x.com}]
      - input: ref('domains')
        rows: [{tld: x.com}]
      - input: source('shop', 'orders')
        rows: []
    expect:
      rows: [{id: 1, valid_email: false}]
`,
	})
	ctx := context.Background()
	run, err := r.Run(ctx, &tandem.Run{Command: "build"}, r.Project.Order)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*tandem.NodeResult{}
	for _, res := range run.Nodes {
		got[res.Node] = res
	}
	for _, name := range []string{"emails_are_checked", "incremental_filter"} {
		res := got["unit_test.t.valid_customers."+name]
		if res == nil || res.Status != tandem.StatusSuccess {
			t.Errorf("%s: %+v", name, res)
			if res != nil {
				t.Log(res.CompiledSQL)
			}
		}
	}
	bad := got["unit_test.t.valid_customers.wrong_on_purpose"]
	if bad == nil || bad.Status != tandem.StatusFail || !strings.Contains(bad.Message, "2 rows differ from the expected ones") ||
		!strings.Contains(bad.Message, "produced, not expected | 1 | true") || !strings.Contains(bad.Message, "expected, not produced | 1 | false") {
		t.Errorf("the wrong expectation: %+v", bad)
	}
	// As in dbt build, a failing unit test stops its model.
	if res := got["model.t.valid_customers"]; res == nil || res.Status != tandem.StatusSkipped || !strings.Contains(res.Message, "wrong_on_purpose") {
		t.Errorf("the model itself: %+v", res)
	}
}
