package http

import (
	"strings"
	"testing"
)

func TestCatalogSearch(t *testing.T) {
	c := &catalog{}
	c.add(&entry{Kind: "model", Name: "orders", Description: "One row per order.", Owner: "ana@shop", Tags: []string{"marts"}, Columns: []string{"order_id", "customer_id"}})
	c.add(&entry{Kind: "model", Name: "customer_orders", Owner: "bo@shop", Columns: []string{"customer_id"}})
	c.add(&entry{Kind: "test", Name: "not_null_orders_order_id"})
	c.add(&entry{Kind: "event", Name: "Order Completed", Columns: []string{"order_id", "revenue"}})
	c.add(&entry{Kind: "feature_view", Name: "customer_rfm", Description: "Recency, frequency and monetary value per customer.", Tags: []string{"daily"}})
	names := func(q, kind string) string {
		hits, n := c.search(q, kind, 3)
		var out []string
		for _, h := range hits {
			out = append(out, h.Name)
		}
		return strings.Join(out, ",") + "/" + string(rune('0'+n))
	}
	for _, tc := range []struct{ q, kind, want string }{
		{"orders", "", "orders,customer_orders,not_null_orders_order_id/3"}, // exact name first, then names containing it
		{"ORDER", "", "orders,order completed,customer_orders/4"},           // prefix before contains, case aside; top 3 of 4
		{"column:customer_id", "", "customer_orders,orders/2"},
		{"owner:ana", "", "orders/1"},
		{"tag:daily", "", "customer_rfm/1"},
		{"monetary customer", "", "customer_rfm/1"}, // every word must match, description included
		{"order kind:event", "", "Order Completed/1"},
		{"order", "test", "not_null_orders_order_id/1"},
		{"nothing", "", "/0"},
	} {
		if got := names(tc.q, tc.kind); !strings.EqualFold(got, tc.want) {
			t.Errorf("search %q (kind %q): %s, want %s", tc.q, tc.kind, got, tc.want)
		}
	}
}
