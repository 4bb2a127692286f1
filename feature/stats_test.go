package feature

import (
	"context"
	"testing"
)

func TestStatsByHand(t *testing.T) {
	w := openWarehouse(t)
	exec(t, w, `create table f (customer_id BIGINT, ts TIMESTAMP, spend BIGINT, country VARCHAR);
		insert into f values (1, '2011-01-01', 0, 'UK'), (2, '2011-01-02', 10, 'UK'), (3, '2011-01-03', 100, 'FR'), (4, '2011-01-04', NULL, NULL)`)
	v := view("spend", "f", 0, false, "spend")
	v.Features = append(v.Features, Feature{Name: "country", Type: "string"})
	s := &Store{Warehouse: w, Registry: &Registry{Views: map[string]*View{"spend": v}}}
	st, err := s.Stats(context.Background(), "spend")
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 4 || st.Latest.Day() != 4 || len(st.Features) != 2 {
		t.Fatalf("stats: %+v", st)
	}
	spend, country := st.Features[0], st.Features[1]
	if spend.Nulls != 1 || spend.Distinct != 3 || spend.Min != "0" || spend.Max != "100" || len(spend.Bins) != 10 ||
		spend.Bins[0].Count != 1 || spend.Bins[1].Count != 1 || spend.Bins[9].Count != 1 || spend.Bins[0].Label != "0 to 10" {
		t.Errorf("spend: %+v", spend)
	}
	if country.Nulls != 1 || country.Distinct != 2 || len(country.Bins) != 2 || country.Bins[0].Label != "UK" || country.Bins[0].Count != 2 {
		t.Errorf("country: %+v", country)
	}
	if _, err := s.Stats(context.Background(), "nope"); err == nil {
		t.Error("an unknown view has stats")
	}
}
