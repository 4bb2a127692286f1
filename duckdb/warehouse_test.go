package duckdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-data/tandem"
)

func TestQueryValues(t *testing.T) {
	ctx := context.Background()
	w, err := Open(":memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rows, err := w.Query(ctx, `select 10.06::decimal(18, 2) as d, sum(x)::hugeint as h, date '2011-03-27' as day,
		timestamp '2011-03-27 01:30:00' as ts, null as n, [1, 2] as l, 'x' as s, true as b
		from (values (1), (2)) v(x)`, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rows.Rows[0])
	if want := `[10.06,3,"2011-03-27","2011-03-27 01:30:00",null,[1,2],"x",true]`; string(got) != want {
		t.Errorf("values\n got %s\nwant %s", got, want)
	}
	if rows.Columns[0].Type != "DECIMAL(18,2)" || rows.Columns[2].Type != "DATE" {
		t.Errorf("column types %+v", rows.Columns)
	}
	limited, _ := w.Query(ctx, "select * from range(100)", 7)
	if len(limited.Rows) != 7 {
		t.Errorf("limit 7 gave %d rows", len(limited.Rows))
	}
}

func TestTxIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	w, err := Open(":memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec(ctx, "create table t as select 1 as id"); err != nil {
		t.Fatal(err)
	}
	err = w.Tx(ctx, func(tx tandem.Execer) error {
		if _, err := tx.Exec(ctx, "alter table t rename to t_old"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "create table t as selec 2")
		return err
	})
	var se *SQLError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, `syntax error at or near "selec"`) || se.Transient() {
		t.Fatalf("tx error = %v", err)
	}
	if kind, _ := w.RelationKind(ctx, "main", "t"); kind != "table" {
		t.Errorf("after a failed transaction t is %q, want the table back", kind)
	}
	rels, err := w.Relations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 1 || rels["main.t"] != "table" {
		t.Errorf("relations = %v", rels)
	}
	if _, err := w.Columns(ctx, "main", "nope"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("columns of a missing table: %v", err)
	}
	cols, err := w.Columns(ctx, "main", "t")
	if err != nil || len(cols) != 1 || cols[0].Name != "id" || cols[0].Type != "INTEGER" {
		t.Errorf("columns = %+v, %v", cols, err)
	}
}

func TestSearchPathReachesEveryConnection(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data, _ := filepath.Abs("../examples/shop/data/online-retail")
	w, err := Open(dir+"/w.duckdb", Options{SearchPath: data})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Queries at once use several pooled connections; each must find the
	// relative path.
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			rows, err := w.Query(ctx, "select count(*) from read_csv('2010-12.csv.gz')", 1)
			if err == nil && rows.Rows[0][0] != int64(42481) {
				err = fmt.Errorf("count = %v, want 42481", rows.Rows[0][0])
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
