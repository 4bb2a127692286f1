package ml

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/tandem-data/tandem"
	"github.com/tandem-data/tandem/project"
)

// Interactions are the rows a recommender learns from, with users and
// items numbered in order of first appearance.
type Interactions struct {
	Users, Items []string
	U, I         []int32
	W            []float32
	T            []int64 // Unix seconds; 0 without a timestamp column
	users, items map[string]int32
}

func newInteractions() *Interactions {
	return &Interactions{users: map[string]int32{}, items: map[string]int32{}}
}

func (d *Interactions) add(user, item string, w float32, t int64) {
	u, ok := d.users[user]
	if !ok {
		u = int32(len(d.Users))
		d.users[user] = u
		d.Users = append(d.Users, user)
	}
	i, ok := d.items[item]
	if !ok {
		i = int32(len(d.Items))
		d.items[item] = i
		d.Items = append(d.Items, item)
	}
	d.U, d.I, d.W, d.T = append(d.U, u), append(d.I, i), append(d.W, w), append(d.T, t)
}

// Len is the number of interactions.
func (d *Interactions) Len() int { return len(d.U) }

// dataSQL is the query that reads a spec's data: a recommender's
// interactions, or a predictor's rows (join keys, timestamp, label).
func (s *Spec) dataSQL() string {
	d := s.Data
	from := s.Relation
	switch {
	case d.SQL != "":
		from = "(" + d.SQL + ")"
	case d.CSV != "":
		from = "read_csv(" + project.QuoteString(d.CSV) + ", header = true)"
	}
	q := project.QuoteIdent
	if s.Kind == "predictor" {
		// In a fixed order, so the training set (and the fit) is the same each time.
		return fmt.Sprintf("select * from %s t where %s is not null order by all", from, q(d.Label))
	}
	ts, w := "NULL", "1::DOUBLE"
	if d.Timestamp != "" {
		ts = q(d.Timestamp)
	}
	if d.Weight != "" {
		w = q(d.Weight) + "::DOUBLE"
	}
	return fmt.Sprintf("select %s::VARCHAR, %s::VARCHAR, %s, %s from %s t where %s is not null and %s is not null",
		q(d.User), q(d.Item), ts, w, from, q(d.User), q(d.Item))
}

// LoadData reads a spec's interactions from the warehouse. Rows with a
// weight that is not positive (returns, zero ratings) are left out and
// counted.
func LoadData(ctx context.Context, wh tandem.Warehouse, s *Spec) (*Interactions, int, error) {
	d := newInteractions()
	dropped := 0
	// In a fixed order: users and items are numbered as first seen, and
	// ties in the rankings go to the lower number, so a model trained twice
	// on the same rows is the same model whatever order DuckDB's parallel
	// scan gives them in.
	err := wh.Each(ctx, s.dataSQL()+" order by all", func(cols []tandem.Column, row []any) error {
		w := 1.0
		switch x := row[3].(type) {
		case float64:
			w = x
		case nil:
		default:
			return fmt.Errorf("weight %v is not a number", x)
		}
		if !(w > 0) || math.IsInf(w, 0) {
			dropped++
			return nil
		}
		var t int64
		switch x := row[2].(type) {
		case time.Time:
			t = x.Unix()
		case int64:
			t = x // Unix seconds, as MovieLens writes them
		case int32:
			t = int64(x)
		case float64:
			t = int64(x)
		case nil:
		default:
			return fmt.Errorf("timestamp %v (%T) is neither a timestamp nor Unix seconds", x, x)
		}
		d.add(row[0].(string), row[1].(string), float32(w), t)
		return nil
	})
	if err != nil {
		return nil, 0, tandem.FileErrorf(tandem.EINVALID, s.File, s.Data.Line, "model %q: reading its data: %v", s.Name, tandem.ErrorMessage(err))
	}
	if d.Len() == 0 {
		return nil, 0, tandem.FileErrorf(tandem.EINVALID, s.File, s.Data.Line, "model %q: its data has no rows (%d left out for weights <= 0); build %s first?", s.Name, dropped, s.Data.Ref)
	}
	return d, dropped, nil
}

// Split is a training set and, per user (by training index), the items
// held out for testing.
type Split struct {
	Train *Interactions
	// Test: user (index in Train.Users) -> distinct held-out items, as
	// names (an item unseen in training cannot be recommended, but counts
	// as relevant).
	Test map[int32][]string
	// UnknownUsers: users with test items but nothing in training.
	UnknownUsers int
	TestRows     int
}

// SplitData splits interactions as the spec's evaluation says.
func SplitData(d *Interactions, e *Evaluation) *Split {
	train := newInteractions()
	type held struct {
		user, item string
	}
	var test []held
	switch e.Split {
	case "temporal":
		cut := e.CutoffTime.Unix()
		for k := range d.U {
			t := d.T[k]
			switch {
			case t < cut:
				train.add(d.Users[d.U[k]], d.Items[d.I[k]], d.W[k], t)
			case e.EndTime.IsZero() || t < e.EndTime.Unix():
				test = append(test, held{d.Users[d.U[k]], d.Items[d.I[k]]})
			}
		}
	default: // random_by_user, stratified: each user keeps round(fraction*n) of their rows
		byUser := make([][]int, len(d.Users))
		for k, u := range d.U {
			byUser[u] = append(byUser[u], k)
		}
		order := make([]int32, len(d.Users))
		for i := range order {
			order[i] = int32(i)
		}
		sort.Slice(order, func(a, b int) bool { return d.Users[order[a]] < d.Users[order[b]] })
		rng := rand.New(rand.NewPCG(uint64(e.Seed), 0x7a6e646d))
		var trainRows []int
		for _, u := range order {
			rows := byUser[u]
			sort.Slice(rows, func(a, b int) bool { return d.Items[d.I[rows[a]]] < d.Items[d.I[rows[b]]] })
			rng.Shuffle(len(rows), func(a, b int) { rows[a], rows[b] = rows[b], rows[a] })
			// Python's round, as Microsoft Recommenders' split uses: half to even.
			n := int(math.RoundToEven(e.Fraction * float64(len(rows))))
			trainRows = append(trainRows, rows[:n]...)
			for _, k := range rows[n:] {
				test = append(test, held{d.Users[u], d.Items[d.I[k]]})
			}
		}
		sort.Ints(trainRows) // training rows keep their input order
		for _, k := range trainRows {
			train.add(d.Users[d.U[k]], d.Items[d.I[k]], d.W[k], d.T[k])
		}
	}
	s := &Split{Train: train, Test: map[int32][]string{}, TestRows: len(test)}
	seen := map[held]bool{}
	unknown := map[string]bool{}
	for _, h := range test {
		if seen[h] {
			continue
		}
		seen[h] = true
		u, ok := train.users[h.user]
		if !ok {
			unknown[h.user] = true
			continue
		}
		s.Test[u] = append(s.Test[u], h.item)
	}
	s.UnknownUsers = len(unknown)
	return s
}

// matrix is the user x item interactions in rows (CSR): duplicates summed,
// the latest timestamp kept.
type matrix struct {
	nUsers, nItems int
	ptr            []int32 // row u is col[ptr[u]:ptr[u+1]]
	col            []int32
	val            []float32
	last           []int64
}

func newMatrix(d *Interactions) *matrix {
	m := &matrix{nUsers: len(d.Users), nItems: len(d.Items), ptr: make([]int32, len(d.Users)+1)}
	idx := make([]int, d.Len())
	for k := range idx {
		idx[k] = k
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := idx[a], idx[b]
		if d.U[ka] != d.U[kb] {
			return d.U[ka] < d.U[kb]
		}
		return d.I[ka] < d.I[kb]
	})
	for n, k := range idx {
		u, i := d.U[k], d.I[k]
		if n > 0 && d.U[idx[n-1]] == u && d.I[idx[n-1]] == i {
			j := len(m.col) - 1
			m.val[j] += d.W[k]
			m.last[j] = max(m.last[j], d.T[k])
			continue
		}
		m.col, m.val, m.last = append(m.col, i), append(m.val, d.W[k]), append(m.last, d.T[k])
		m.ptr[u+1] = int32(len(m.col))
	}
	for u := 1; u <= m.nUsers; u++ {
		m.ptr[u] = max(m.ptr[u], m.ptr[u-1])
	}
	return m
}

func (m *matrix) row(u int32) (cols []int32, vals []float32) {
	a, b := m.ptr[u], m.ptr[u+1]
	return m.col[a:b], m.val[a:b]
}

// transpose returns the item x user matrix.
func (m *matrix) transpose() *matrix {
	t := &matrix{nUsers: m.nItems, nItems: m.nUsers, ptr: make([]int32, m.nItems+1), col: make([]int32, len(m.col)), val: make([]float32, len(m.val))}
	for _, i := range m.col {
		t.ptr[i+1]++
	}
	for i := 1; i <= m.nItems; i++ {
		t.ptr[i] += t.ptr[i-1]
	}
	next := append([]int32(nil), t.ptr[:m.nItems]...)
	for u := 0; u < m.nUsers; u++ {
		for k := m.ptr[u]; k < m.ptr[u+1]; k++ {
			i := m.col[k]
			t.col[next[i]], t.val[next[i]] = int32(u), m.val[k]
			next[i]++
		}
	}
	return t
}

// NewInteractions returns an empty set of interactions; Add appends one.
func NewInteractions() *Interactions { return newInteractions() }

// Add appends an interaction (t in Unix seconds, 0 without).
func (d *Interactions) Add(user, item string, w float32, t int64) { d.add(user, item, w, t) }
