package ml

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandem-data/tandem"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-5 }

// TestRankingMetricsByHand: three users whose figures are worked out in
// the comments.
func TestRankingMetricsByHand(t *testing.T) {
	recs := map[string][]string{
		"a": {"x", "y", "z"}, // one hit, at position 2 of 2 relevant
		"b": {"p", "q", "r"}, // three hits of 3
		"c": {"s"},           // none
		"d": {"x"},           // no held-out items: not counted
	}
	truth := map[string][]string{"a": {"y", "w"}, "b": {"p", "q", "r"}, "c": {"t"}}
	m := RankingMetrics(recs, truth, 3, 10)
	l3 := 1 / math.Log2(3)
	want := map[string]float64{
		"users":       3,
		"precision@3": (1.0/3 + 1 + 0) / 3,
		"recall@3":    (0.5 + 1 + 0) / 3,
		"ndcg@3":      (l3/(1+l3) + 1 + 0) / 3, // a: DCG 1/log2(3), ideal 1 + 1/log2(3)
		"map@3":       ((1.0/2)/2 + 1 + 0) / 3, // a: precision 1/2 at its hit, over min(3, 2)
		"hit_rate@3":  2.0 / 3,
		"coverage@3":  7.0 / 10, // x y z p q r s of 10 items
	}
	for k, v := range want {
		if !near(m[k], v) {
			t.Errorf("%s = %.6f, want %.6f", k, m[k], v)
		}
	}
}

// tiny: u1 {A,B}, u2 {A,B,C}, u3 {A,C}, u4 {D}.
func tiny() *Interactions {
	d := newInteractions()
	for _, r := range []string{"u1 A", "u1 B", "u2 A", "u2 B", "u2 C", "u3 A", "u3 C", "u4 D"} {
		u, i, _ := strings.Cut(r, " ")
		d.add(u, i, 1, 0)
	}
	return d
}

func train(t *testing.T, algo string, params map[string]any, d *Interactions) *Artifact {
	t.Helper()
	a, err := Train(&Spec{Algorithm: algo, Params: params}, d, 1)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func items(r []Scored) string {
	var s []string
	for _, x := range r {
		s = append(s, fmt.Sprintf("%s:%.4f", x.Item, x.Score))
	}
	return strings.Join(s, " ")
}

// TestMostPopularByHand: distinct users per item: A 3, B 2, C 2, D 1.
func TestMostPopularByHand(t *testing.T) {
	a := train(t, "most_popular", nil, tiny())
	r, _ := a.Recommend("u4", 3, true, nil)
	if got := items(r); got != "A:3.0000 B:2.0000 C:2.0000" { // B before C: tie, smaller index
		t.Fatal(got)
	}
	r, _ = a.Recommend("u1", 3, true, nil)
	if got := items(r); got != "C:2.0000 D:1.0000" {
		t.Fatal(got)
	}
	r, _ = a.Recommend("u1", 3, false, func(it string) bool { return it != "A" })
	if got := items(r); got != "B:2.0000 C:2.0000 D:1.0000" {
		t.Fatal("allow-list:", got)
	}
	if _, ok := a.Recommend("nobody", 3, true, nil); ok {
		t.Fatal("an unknown user is known")
	}
}

// TestSARByHand: co-occurrence AA 3, BB 2, CC 2, AB 2, AC 2, BC 1, so
// Jaccard AB = 2/(3+2-2) = 2/3, AC = 2/3, BC = 1/(2+2-1) = 1/3, D 0.
// u1 {A,B} scores C = S(A,C) + S(B,C) = 1; u3 {A,C} scores B = 1.
func TestSARByHand(t *testing.T) {
	a := train(t, "sar", map[string]any{"similarity": "jaccard", "time_decay_days": 0.0, "min_cooccurrence": 1.0}, tiny())
	for user, want := range map[string]string{"u1": "C:1.0000 D:0.0000", "u3": "B:1.0000 D:0.0000", "u4": "A:0.0000 B:0.0000"} {
		r, _ := a.Recommend(user, 2, true, nil)
		if got := items(r); got != want {
			t.Errorf("%s: %s, want %s", user, got, want)
		}
	}
	r, _ := a.Similar("A", 3, nil)
	if got := items(r); got != "B:0.6667 C:0.6667 D:0.0000" {
		t.Errorf("similar to A: %s", got)
	}
	lift := train(t, "sar", map[string]any{"similarity": "lift", "time_decay_days": 0.0}, tiny())
	r, _ = lift.Similar("B", 2, nil) // lift BA = 2/(2*3) = 1/3, BC = 1/(2*2) = 1/4
	if got := items(r); got != "A:0.3333 C:0.2500" {
		t.Errorf("lift, similar to B: %s", got)
	}
}

// TestSARTimeDecay: with a half-life of 1 day, an item bought a day
// before the latest interaction weighs half.
func TestSARTimeDecay(t *testing.T) {
	d := newInteractions()
	day := int64(86400)
	d.add("u", "A", 1, 10*day)
	d.add("u", "B", 1, 9*day)
	d.add("v", "A", 1, 10*day)
	d.add("v", "C", 1, 10*day)
	d.add("w", "B", 1, 10*day)
	d.add("w", "D", 1, 10*day)
	a := train(t, "sar", map[string]any{"similarity": "cooccurrence", "time_decay_days": 1.0}, d)
	r, _ := a.Recommend("u", 2, true, nil) // C via A (weight 1), D via B (weight 1/2)
	if got := items(r); got != "C:1.0000 D:0.5000" {
		t.Fatal(got)
	}
}

// TestEASEByHand: items A, B, C; u1 {A,B}, u2 {A}, u3 {C}; lambda 1.
// G = X'X + I: [[3,1,0],[1,2,0],[0,0,2]]; P = G^-1 has P_AA = 2/5,
// P_AB = -1/5, P_BB = 3/5, so B_AB = -P_AB/P_BB = 1/3, B_BA = 1/2.
// u2 scores B = 1/3, C = 0.
func TestEASEByHand(t *testing.T) {
	d := newInteractions()
	for _, r := range []string{"u1 A", "u1 B", "u2 A", "u3 C"} {
		u, i, _ := strings.Cut(r, " ")
		d.add(u, i, 1, 0)
	}
	a := train(t, "ease", map[string]any{"lambda": 1.0}, d)
	r, _ := a.Recommend("u2", 2, true, nil)
	if got := items(r); got != "B:0.3333 C:0.0000" {
		t.Fatal(got)
	}
	r, _ = a.Recommend("u3", 1, true, nil)
	if got := items(r); got != "A:0.0000" { // nothing relates C to A or B; the tie goes to A, the more popular
		t.Fatal(got)
	}
	r, _ = a.Similar("B", 1, nil)
	if got := items(r); got != "A:0.5000" {
		t.Fatal("similar to B:", got)
	}
}

// TestALSFindsTheBlocks: two groups of users who each buy within their
// own group of items. Every user's recommendations come from their own
// group, and the same seed gives the same factors.
func TestALSFindsTheBlocks(t *testing.T) {
	d := newInteractions()
	for u := 0; u < 40; u++ {
		g := u % 2
		for i := 0; i < 10; i++ {
			if (u*7+i*3)%4 != 0 { // most of the group's items, not all
				d.add(fmt.Sprintf("u%d", u), fmt.Sprintf("g%d-i%d", g, i), 1, 0)
			}
		}
	}
	p := map[string]any{"factors": 2.0, "iterations": 10.0, "regularization": 1.0, "alpha": 5.0} // two factors for two groups
	a := train(t, "als", p, d)
	for u := 0; u < 40; u++ {
		r, _ := a.Recommend(fmt.Sprintf("u%d", u), 2, true, nil)
		for _, x := range r {
			if !strings.HasPrefix(x.Item, fmt.Sprintf("g%d-", u%2)) {
				t.Fatalf("u%d (group %d) gets %s: %s", u, u%2, x.Item, items(r))
			}
		}
	}
	b := train(t, "als", p, d)
	if !reflect.DeepEqual(a.UF, b.UF) || !reflect.DeepEqual(a.IF, b.IF) {
		t.Fatal("ALS is not deterministic given the seed")
	}
}

// TestSplits: temporal keeps the order of time; random_by_user keeps
// round-half-even(fraction x n) rows of each user in training.
func TestSplits(t *testing.T) {
	d := newInteractions()
	cut := time.Date(2011, 8, 1, 0, 0, 0, 0, time.UTC)
	for u := 0; u < 30; u++ {
		for i := 0; i <= u%7; i++ {
			d.add(fmt.Sprintf("u%02d", u), fmt.Sprintf("i%d", i), 1, cut.Add(time.Duration(i-3)*24*time.Hour).Unix())
		}
	}
	sp := SplitData(d, &Evaluation{Split: "temporal", CutoffTime: cut})
	for k := range sp.Train.T {
		if sp.Train.T[k] >= cut.Unix() {
			t.Fatal("a training row on or after the cutoff")
		}
	}
	if sp.TestRows+sp.Train.Len() != d.Len() {
		t.Fatal("rows lost", sp.TestRows, sp.Train.Len(), d.Len())
	}
	rs := SplitData(d, &Evaluation{Split: "random_by_user", Fraction: 0.75, Seed: 42})
	per := map[string]int{}
	for _, u := range rs.Train.U {
		per[rs.Train.Users[u]]++
	}
	for u := 0; u < 30; u++ {
		n := u%7 + 1
		if want := int(math.RoundToEven(0.75 * float64(n))); per[fmt.Sprintf("u%02d", u)] != want {
			t.Fatalf("u%02d: %d of %d rows in training, want %d", u, per[fmt.Sprintf("u%02d", u)], n, want)
		}
	}
	again := SplitData(d, &Evaluation{Split: "random_by_user", Fraction: 0.75, Seed: 42})
	if !reflect.DeepEqual(rs.Test, again.Test) {
		t.Fatal("the same seed splits differently")
	}
}

// TestGateRefusesWorseAcceptsBetter: the registry promotes a model that is
// at least as good as production and refuses one that is worse, unless
// forced with a reason; every change is audited; rollback restores.
func TestGateRefusesWorseAcceptsBetter(t *testing.T) {
	r := &Registry{Dir: t.TempDir()}
	spec := &Spec{Name: "recs", Gate: Gate{Metric: "ndcg@10", MinRatio: 1}}
	add := func(ndcg float64) *Version {
		v := &Version{Model: "recs", Spec: spec, Eval: &EvalResult{Metrics: Metrics{"ndcg@10": ndcg}}}
		if err := r.Add(v, &Artifact{Algorithm: "most_popular"}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	promote := func(v *Version, force bool, reason string) error {
		var prod *Version
		if al, _ := r.Aliases("recs"); al.Production != 0 {
			prod, _ = r.Version("recs", al.Production)
		}
		return r.Promote(v, Judge(v, prod, nil), force, reason, "test")
	}
	v1 := add(0.20)
	if err := promote(v1, false, ""); err != nil {
		t.Fatal("first version:", err)
	}
	v2 := add(0.25)
	if err := promote(v2, false, ""); err != nil {
		t.Fatal("better:", err)
	}
	v3 := add(0.18)
	err := promote(v3, false, "")
	if tandem.ErrorCode(err) != tandem.ECONFLICT || !strings.Contains(tandem.ErrorMessage(err), "ratio 0.720") {
		t.Fatalf("worse: want a refusal with the ratio, got %v", err)
	}
	if al, _ := r.Aliases("recs"); al.Production != 2 {
		t.Fatalf("production is v%d after a refusal", al.Production)
	}
	if err := promote(v3, true, ""); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("force without a reason: %v", err)
	}
	if err := promote(v3, true, "the old one recommends discontinued stock"); err != nil {
		t.Fatal(err)
	}
	from, to, err := r.Rollback("recs", "test", "")
	if err != nil || from != 3 || to != 2 {
		t.Fatalf("rollback: %d -> %d, %v", from, to, err)
	}
	log, _ := r.Audit("recs")
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "promote promote refused force_promote rollback" {
		t.Fatal("audit:", got)
	}
	if log[3].Reason == "" || log[3].Verdict.Pass {
		t.Fatal("the forced promotion's reason and failing verdict are not audited")
	}
}
