package ml

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// Artifact is a trained recommender: what serving needs and nothing of
// the training data beyond each user's seen items.
type Artifact struct {
	Algorithm string
	Users     []string
	Items     []string
	// Seen: the items each user interacted with in training (CSR).
	SeenPtr, SeenCol []int32
	// Pop: every item's popularity in training (most_popular's scores,
	// and the order similar items fall back to).
	Pop []float32
	// Dense: SAR's item-item similarity or EASE's weights, n x n, row-major.
	Dense []float32
	// Aff: SAR's user affinities, EASE's user rows (CSR, like Seen).
	AffPtr, AffCol []int32
	AffVal         []float32
	// ALS: user and item factors, Factors per row.
	Factors int
	UF, IF  []float32
	// Predictor, for predictors (the fields above are empty).
	Predictor *Predictor

	once         sync.Once
	users, items map[string]int32
}

func (a *Artifact) index() { a.once.Do(a.buildIndex) }

func (a *Artifact) buildIndex() {
	a.users = make(map[string]int32, len(a.Users))
	for i, u := range a.Users {
		a.users[u] = int32(i)
	}
	a.items = make(map[string]int32, len(a.Items))
	for i, it := range a.Items {
		a.items[it] = int32(i)
	}
}

// User returns a user's index, if the model knows the user.
func (a *Artifact) User(name string) (int32, bool) {
	a.index()
	u, ok := a.users[name]
	return u, ok
}

// Item returns an item's index, if the model knows the item.
func (a *Artifact) Item(name string) (int32, bool) {
	a.index()
	i, ok := a.items[name]
	return i, ok
}

// Scored is one recommended item.
type Scored struct {
	Item  string  `json:"item"`
	Score float32 `json:"score"`
}

// score fills scores with the user's score for every item.
func (a *Artifact) score(u int32, scores []float32) {
	n := len(a.Items)
	switch a.Algorithm {
	case "most_popular":
		copy(scores, a.Pop)
	case "sar", "ease":
		clear(scores)
		for k := a.AffPtr[u]; k < a.AffPtr[u+1]; k++ {
			i, w := a.AffCol[k], a.AffVal[k]
			row := a.Dense[int(i)*n : int(i+1)*n]
			for j, s := range row {
				scores[j] += w * s
			}
		}
	case "als":
		f := a.Factors
		x := a.UF[int(u)*f : int(u+1)*f]
		for i := 0; i < n; i++ {
			scores[i] = dot(x, a.IF[i*f:(i+1)*f])
		}
	}
}

// similar fills scores with every item's similarity to item i.
func (a *Artifact) similar(i int32, scores []float32) {
	n := len(a.Items)
	switch a.Algorithm {
	case "sar", "ease":
		copy(scores, a.Dense[int(i)*n:int(i+1)*n])
	case "als":
		f := a.Factors
		x := a.IF[int(i)*f : int(i+1)*f]
		nx := float32(math.Sqrt(float64(dot(x, x))))
		for j := 0; j < n; j++ {
			y := a.IF[j*f : (j+1)*f]
			ny := float32(math.Sqrt(float64(dot(y, y))))
			if nx > 0 && ny > 0 {
				scores[j] = dot(x, y) / (nx * ny)
			} else {
				scores[j] = 0
			}
		}
	default:
		copy(scores, a.Pop)
	}
}

// Recommend returns the top k items for a user, leaving out the user's
// seen items when excludeSeen, and items allow rejects (nil: all). The
// second result is false when the model does not know the user.
func (a *Artifact) Recommend(user string, k int, excludeSeen bool, allow func(item string) bool) ([]Scored, bool) {
	u, ok := a.User(user)
	if !ok {
		return nil, false
	}
	scores := make([]float32, len(a.Items))
	a.score(u, scores)
	var seen []int32
	if excludeSeen {
		seen = a.SeenCol[a.SeenPtr[u]:a.SeenPtr[u+1]]
	}
	return a.top(scores, k, seen, -1, allow), true
}

// Similar returns the k items most similar to item.
func (a *Artifact) Similar(item string, k int, allow func(item string) bool) ([]Scored, bool) {
	i, ok := a.Item(item)
	if !ok {
		return nil, false
	}
	scores := make([]float32, len(a.Items))
	a.similar(i, scores)
	return a.top(scores, k, nil, i, allow), true
}

// Popular returns the k most popular items (the fallback's answer).
func (a *Artifact) Popular(k int, allow func(item string) bool) []Scored {
	return a.top(a.Pop, k, nil, -1, allow)
}

// top selects the k best items; ties go to the more popular item, then
// to the smaller index, so results are deterministic.
func (a *Artifact) top(scores []float32, k int, skip []int32, self int32, allow func(string) bool) []Scored {
	skipSet := make(map[int32]bool, len(skip)+1)
	for _, i := range skip {
		skipSet[i] = true
	}
	if self >= 0 {
		skipSet[self] = true
	}
	h := &minHeap{pop: a.Pop}
	for i, s := range scores {
		i := int32(i)
		if skipSet[i] || math.IsNaN(float64(s)) {
			continue
		}
		if h.Len() == k && !h.better(cand{i, s}, h.c[0]) {
			continue
		}
		if allow != nil && !allow(a.Items[i]) {
			continue
		}
		if h.Len() < k {
			heap.Push(h, cand{i, s})
		} else {
			h.c[0] = cand{i, s}
			heap.Fix(h, 0)
		}
	}
	out := make([]Scored, h.Len())
	for n := len(out) - 1; n >= 0; n-- {
		c := heap.Pop(h).(cand)
		out[n] = Scored{Item: a.Items[c.i], Score: c.s}
	}
	return out
}

type cand struct {
	i int32
	s float32
}

type minHeap struct {
	c   []cand
	pop []float32
}

// better: higher score, then more popular, then smaller index.
func (h *minHeap) better(x, y cand) bool {
	if x.s != y.s {
		return x.s > y.s
	}
	if h.pop != nil && h.pop[x.i] != h.pop[y.i] {
		return h.pop[x.i] > h.pop[y.i]
	}
	return x.i < y.i
}
func (h *minHeap) Len() int           { return len(h.c) }
func (h *minHeap) Less(i, j int) bool { return h.better(h.c[j], h.c[i]) }
func (h *minHeap) Swap(i, j int)      { h.c[i], h.c[j] = h.c[j], h.c[i] }
func (h *minHeap) Push(x any)         { h.c = append(h.c, x.(cand)) }
func (h *minHeap) Pop() any {
	x := h.c[len(h.c)-1]
	h.c = h.c[:len(h.c)-1]
	return x
}

func dot(x, y []float32) float32 {
	var s float32
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}

// Train fits the spec's algorithm to the interactions.
func Train(s *Spec, d *Interactions, seed int64) (*Artifact, error) {
	m := newMatrix(d)
	a := &Artifact{Algorithm: s.Algorithm, Users: d.Users, Items: d.Items, SeenPtr: m.ptr, SeenCol: m.col}
	a.Pop = popularity(d, s.num("window_days"), s.param("weighted") == true)
	switch s.Algorithm {
	case "most_popular":
	case "sar":
		trainSAR(a, d, m, s.param("similarity").(string), s.num("time_decay_days"), s.num("min_cooccurrence"))
	case "ease":
		if err := trainEASE(a, m, s.num("lambda")); err != nil {
			return nil, err
		}
	case "als":
		trainALS(a, m, int(s.num("factors")), int(s.num("iterations")), s.num("regularization"), s.num("alpha"), int(s.num("cg_steps")), seed)
	default:
		return nil, fmt.Errorf("unknown algorithm %q", s.Algorithm)
	}
	return a, nil
}

// popularity counts each item's distinct users (or sums weights), within
// the last windowDays before the latest interaction when windowDays > 0.
func popularity(d *Interactions, windowDays float64, weighted bool) []float32 {
	pop := make([]float32, len(d.Items))
	var latest int64
	for _, t := range d.T {
		latest = max(latest, t)
	}
	from := int64(math.MinInt64)
	if windowDays > 0 {
		from = latest - int64(windowDays*86400)
	}
	seen := map[[2]int32]bool{}
	for k := range d.U {
		if d.T[k] < from {
			continue
		}
		if weighted {
			pop[d.I[k]] += d.W[k]
			continue
		}
		key := [2]int32{d.U[k], d.I[k]}
		if !seen[key] {
			seen[key] = true
			pop[d.I[k]]++
		}
	}
	return pop
}

// trainSAR: item-item similarity from co-occurrence (users who have both),
// user affinity as weights decayed by age (half-life decayDays).
func trainSAR(a *Artifact, d *Interactions, m *matrix, similarity string, decayDays, minCo float64) {
	n := len(d.Items)
	co := make([]float32, n*n)
	for u := 0; u < m.nUsers; u++ {
		cols, _ := m.row(int32(u))
		for _, i := range cols {
			row := co[int(i)*n:]
			for _, j := range cols {
				row[j]++
			}
		}
	}
	diag := make([]float32, n)
	for i := range diag {
		diag[i] = co[i*n+i]
	}
	a.Dense = co
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			c := co[i*n+j]
			if float64(c) < minCo {
				co[i*n+j] = 0
				continue
			}
			switch similarity {
			case "jaccard":
				co[i*n+j] = c / (diag[i] + diag[j] - c)
			case "lift":
				co[i*n+j] = c / (diag[i] * diag[j])
			}
		}
	}
	// Affinity: sum of weight x 2^(-age/half-life), per user and item.
	var latest int64
	for _, t := range d.T {
		latest = max(latest, t)
	}
	aff := newInteractions()
	for k := range d.U {
		w := float64(d.W[k])
		if decayDays > 0 && d.T[k] > 0 {
			w *= math.Exp2(-float64(latest-d.T[k]) / (decayDays * 86400))
		}
		aff.add(d.Users[d.U[k]], d.Items[d.I[k]], float32(w), d.T[k])
	}
	am := newMatrix(aff)
	// aff numbered users and items in the same order as d (same first
	// appearances), so its indices are the artifact's.
	a.AffPtr, a.AffCol, a.AffVal = am.ptr, am.col, am.val
}

// trainEASE: B = I - P diagMat(1/diag(P)) with P = (X'X + lambda I)^-1 and
// a zero diagonal (Steck 2019), on the binary user x item matrix.
func trainEASE(a *Artifact, m *matrix, lambda float64) error {
	n := m.nItems
	g := make([]float64, n*n)
	for u := 0; u < m.nUsers; u++ {
		cols, _ := m.row(int32(u))
		for _, i := range cols {
			row := g[int(i)*n:]
			for _, j := range cols {
				row[j]++
			}
		}
	}
	for i := 0; i < n; i++ {
		g[i*n+i] += lambda
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(mat.NewSymDense(n, g)); !ok {
		return fmt.Errorf("ease: X'X + lambda I is not positive definite; raise lambda")
	}
	var p mat.SymDense
	if err := chol.InverseTo(&p); err != nil {
		return fmt.Errorf("ease: %v", err)
	}
	b := make([]float32, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				b[i*n+j] = float32(-p.At(i, j) / p.At(j, j))
			}
		}
	}
	a.Dense = b
	a.AffPtr, a.AffCol = m.ptr, m.col
	a.AffVal = make([]float32, len(m.col))
	for k := range a.AffVal {
		a.AffVal[k] = 1
	}
	return nil
}

// trainALS: implicit-feedback matrix factorisation (Hu, Koren, Volinsky
// 2008) with confidence 1 + alpha*log(1+w), each half-step solved by a few
// conjugate-gradient steps (Takacs et al. 2011), as the implicit library
// does. Rows are solved in parallel but each from the same inputs, so the
// result depends only on the seed.
func trainALS(a *Artifact, m *matrix, f, iters int, reg, alpha float64, cgSteps int, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xa15))
	uf := make([]float32, m.nUsers*f)
	itf := make([]float32, m.nItems*f)
	for i := range uf {
		uf[i] = float32(rng.NormFloat64() * 0.01)
	}
	for i := range itf {
		itf[i] = float32(rng.NormFloat64() * 0.01)
	}
	conf := make([]float32, len(m.val))
	for k, w := range m.val {
		conf[k] = float32(1 + alpha*math.Log1p(float64(w)))
	}
	tm := m.transpose()
	tconf := make([]float32, len(tm.val))
	for k, w := range tm.val {
		tconf[k] = float32(1 + alpha*math.Log1p(float64(w)))
	}
	for it := 0; it < iters; it++ {
		solveALS(uf, itf, m, conf, f, reg, cgSteps)
		solveALS(itf, uf, tm, tconf, f, reg, cgSteps)
	}
	a.Factors, a.UF, a.IF = f, uf, itf
}

// solveALS updates every row x of X given Y (fixed).
func solveALS(x, y []float32, m *matrix, conf []float32, f int, reg float64, steps int) {
	// YtY + reg I
	yty := make([]float64, f*f)
	rows := len(y) / f
	for r := 0; r < rows; r++ {
		v := y[r*f : (r+1)*f]
		for i := 0; i < f; i++ {
			vi := float64(v[i])
			for j := 0; j < f; j++ {
				yty[i*f+j] += vi * float64(v[j])
			}
		}
	}
	for i := 0; i < f; i++ {
		yty[i*f+i] += reg
	}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r, p, ap := make([]float64, f), make([]float64, f), make([]float64, f)
			for u := w; u < m.nUsers; u += workers {
				xu := x[u*f : (u+1)*f]
				a, b := m.ptr[u], m.ptr[u+1]
				if a == b {
					continue
				}
				// r = Y'C p - (Y'CY + reg) x
				mulSym(yty, xu, r, f)
				for i := range r {
					r[i] = -r[i]
				}
				for k := a; k < b; k++ {
					c := float64(conf[k])
					yi := y[int(m.col[k])*f : int(m.col[k]+1)*f]
					s := c - (c-1)*float64(dot(yi, xu))
					for i := range r {
						r[i] += s * float64(yi[i])
					}
				}
				copy(p, r)
				rs := dot64(r, r)
				for st := 0; st < steps && rs > 1e-20; st++ {
					mulSymPlain(yty, p, ap, f)
					for k := a; k < b; k++ {
						c := float64(conf[k])
						yi := y[int(m.col[k])*f : int(m.col[k]+1)*f]
						var yp float64
						for i := range p {
							yp += float64(yi[i]) * p[i]
						}
						yp *= c - 1
						for i := range ap {
							ap[i] += yp * float64(yi[i])
						}
					}
					al := rs / dot64(p, ap)
					for i := range p {
						xu[i] += float32(al * p[i])
						r[i] -= al * ap[i]
					}
					rn := dot64(r, r)
					for i := range p {
						p[i] = r[i] + rn/rs*p[i]
					}
					rs = rn
				}
			}
		}(w)
	}
	wg.Wait()
}

func mulSym(a []float64, x []float32, out []float64, f int) {
	for i := 0; i < f; i++ {
		var s float64
		row := a[i*f : (i+1)*f]
		for j, v := range row {
			s += v * float64(x[j])
		}
		out[i] = s
	}
}

func mulSymPlain(a, x, out []float64, f int) {
	for i := 0; i < f; i++ {
		var s float64
		row := a[i*f : (i+1)*f]
		for j, v := range row {
			s += v * x[j]
		}
		out[i] = s
	}
}

func dot64(x, y []float64) float64 {
	var s float64
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}
