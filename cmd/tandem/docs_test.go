package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDocsLsCompile(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../testdata/jaffle_shop")); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "build", "--project-dir", dir)
	if out := mustRun(t, "docs", "generate", "--project-dir", dir); !strings.Contains(out, "Wrote target/catalog.json: 28 nodes") {
		t.Errorf("docs generate: %s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "target", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var catalog struct {
		Nodes map[string]struct {
			Description string
			Relation    string
			Columns     []struct{ Name, Type, Description string }
			Tests       []string
			Upstream    []string
			Downstream  []string
		}
	}
	if err := json.Unmarshal(b, &catalog); err != nil {
		t.Fatal(err)
	}
	orders := catalog.Nodes["model.jaffle_shop.orders"]
	if orders.Relation != `"main"."orders"` || len(orders.Tests) != 10 || strings.Join(orders.Upstream, " ") != "model.jaffle_shop.stg_orders model.jaffle_shop.stg_payments" {
		t.Errorf("orders: relation %s, %d tests, upstream %v", orders.Relation, len(orders.Tests), orders.Upstream)
	}
	var status, amount string
	for _, c := range orders.Columns {
		switch c.Name {
		case "status":
			status = c.Description
		case "amount":
			amount = c.Type + " " + c.Description
		}
	}
	if !strings.Contains(status, "| placed         | The order has been placed") || amount != "DECIMAL(38,2) Total amount (AUD) of the order" {
		t.Errorf("columns: status %q, amount %q", status, amount)
	}
	if d := catalog.Nodes["seed.jaffle_shop.raw_orders"].Downstream; len(d) != 1 || d[0] != "model.jaffle_shop.stg_orders" {
		t.Errorf("raw_orders downstream = %v", d)
	}

	ls := mustRun(t, "ls", "--project-dir", dir, "--resource-type", "model", "-s", "+orders")
	if strings.Count(ls, "\n") != 4 || !strings.Contains(strings.Join(strings.Fields(ls), " "), "model orders table models/orders.sql") {
		t.Errorf("ls:\n%s", ls)
	}
	sql := mustRun(t, "compile", "--project-dir", dir, "-s", "stg_payments")
	if !strings.Contains(sql, `(amount / 100)::numeric(16, 2) as amount`) || !strings.Contains(sql, `from "main"."raw_payments"`) {
		t.Errorf("compile:\n%s", sql)
	}
	out, _, code := tandemCLI(t, "show", "--project-dir", dir, "-s", "ordres", "-o", "json")
	if code != 3 || !strings.Contains(out, `"code":"not_found","message":"no model or seed named \"ordres\"; did you mean \"orders\"?"`) {
		t.Errorf("show a typo: exit %d %s", code, out)
	}
}
