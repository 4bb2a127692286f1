package jinja

// Expressions.
type expr interface{ line() int }

type pos struct{ Line int }

func (p pos) line() int { return p.Line }

type (
	constExpr struct {
		pos
		v any
	}
	nameExpr struct {
		pos
		name string
		// setInFile is true when the file assigns the name somewhere
		// ({% set %}, a for target): undefined, it is a conditional set
		// that did not happen (dbt_utils' select_gb_cols), not a typo, so
		// it prints empty even under Env.StrictUndefined.
		setInFile bool
	}
	listExpr struct {
		pos
		items []expr
	}
	tupleExpr struct {
		pos
		items []expr
	}
	dictExpr struct {
		pos
		keys, vals []expr
	}
	attrExpr struct {
		pos
		obj  expr
		attr string
	}
	itemExpr struct {
		pos
		obj, key expr
	}
	sliceExpr struct {
		pos
		obj              expr
		start, stop, stp expr // nil when absent
	}
	callExpr struct {
		pos
		fn   expr
		args callArgs
	}
	filterExpr struct {
		pos
		obj  expr // nil inside a {% filter %} block
		name string
		args callArgs
	}
	testExpr struct {
		pos
		obj  expr
		name string
		args callArgs
		neg  bool
	}
	binExpr struct {
		pos
		op   string
		l, r expr
	}
	unaryExpr struct {
		pos
		op string // "-", "+", "not"
		x  expr
	}
	compareExpr struct {
		pos
		first expr
		ops   []string
		rest  []expr
	}
	concatExpr struct {
		pos
		parts []expr
	}
	condExpr struct {
		pos
		test, then, els expr // els may be nil
	}
)

type callArgs struct {
	pos    []expr
	kwKeys []string
	kwVals []expr
	star   expr // *args
	dstar  expr // **kwargs
}

// Statements.
type stmt interface{}

type (
	dataStmt   struct{ text string }
	outputStmt struct {
		pos
		x expr
	}
	ifStmt struct {
		pos
		conds  []expr
		bodies [][]stmt
		els    []stmt
	}
	forStmt struct {
		pos
		target    expr // nameExpr or tupleExpr of names
		iter      expr
		filter    expr
		body, els []stmt
		recursive bool
	}
	setStmt struct {
		pos
		target expr // nameExpr, tupleExpr, or attrExpr on a namespace
		value  expr // nil for a block set
		body   []stmt
		filter *filterExpr // {% set x | f %}...{% endset %}
	}
	macroStmt struct {
		pos
		m *Macro
	}
	callBlockStmt struct {
		pos
		call   *callExpr
		caller *Macro
	}
	filterBlockStmt struct {
		pos
		filters []*filterExpr
		body    []stmt
	}
	doStmt struct {
		pos
		x expr
	}
	withStmt struct {
		pos
		targets []expr
		values  []expr
		body    []stmt
	}
	loopCtlStmt struct {
		pos
		brk bool
	}
)

// Macro is a {% macro %} (or dbt's {% test %}, {% materialization %}).
type Macro struct {
	Name     string
	File     string
	Line     int
	Params   []string
	defaults []expr // parallel to Params; nil where no default
	body     []stmt
	// CatchKwargs and CatchVarargs are true when the body reads kwargs or
	// varargs: then extra arguments are accepted, as Jinja2 does.
	CatchKwargs, CatchVarargs, CallerUsed bool
	closure                               *frame
	tpl                                   *Template
}

// HasDefault reports whether parameter i has a default value.
func (m *Macro) HasDefault(i int) bool { return i < len(m.defaults) && m.defaults[i] != nil }
