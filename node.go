package tandem

import "time"

// NodeKind says what a node of a project is.
type NodeKind string

const (
	KindModel  NodeKind = "model"
	KindSeed   NodeKind = "seed"
	KindSource NodeKind = "source"
	KindTest   NodeKind = "test"
	// KindSnapshot is a dbt snapshot: a type-2 history of a query's rows.
	KindSnapshot NodeKind = "snapshot"
)

// Materializations of a model.
const (
	View        = "view"
	Table       = "table"
	Incremental = "incremental"
	Ephemeral   = "ephemeral"
	SeedMat     = "seed"
	TestMat     = "test"
	SnapshotMat = "snapshot"
)

// Node is one model, seed, source or test of a project.
type Node struct {
	ID          string   // unique: "model.shop.orders", "source.shop.retail.lines"
	Kind        NodeKind `json:"kind"`
	Name        string   // models, seeds, tests: name; sources: "source.table"
	Path        string   // file relative to the project root
	Line        int      // line in Path where it is declared, when known
	PropsPath   string   // the .yml file with its properties (description, columns, tests), if any
	PropsLine   int      // line of its entry in PropsPath
	Description string
	Owner       string
	Tags        []string
	Meta        map[string]any
	Columns     []Column

	Schema       string // where it is built
	Alias        string // relation name; Name when empty
	Materialized string
	UniqueKey    []string
	Strategy     string // incremental strategy: append, merge, delete+insert
	Enabled      bool
	FullRefresh  *bool
	Config       map[string]any // every config value, after inheritance

	RawSQL    string   // the template as written
	DependsOn []string // IDs of upstream nodes, in order of first use

	// Sources only.
	ExternalLocation string // read_csv(...) etc. that source() renders to
	LoadedAtField    string

	// Seeds only.
	ColumnTypes map[string]string

	// Freshness is the node's SLA, if it has one: sources measure
	// LoadedAtField, models the time of their last successful build.
	Freshness *Freshness

	// Tests only.
	Test *TestSpec
}

// Freshness is a freshness SLA: data older than WarnAfter warns, older
// than ErrorAfter is an error (and an alert). Zero means not set.
type Freshness struct {
	WarnAfter  time.Duration `json:"warn_after,omitempty"`
	ErrorAfter time.Duration `json:"error_after,omitempty"`
	Filter     string        `json:"filter,omitempty"` // SQL condition on the source rows
}

// Column is a documented column of a node.
type Column struct {
	Name        string `json:"name"`
	Type        string `json:"type,omitempty"`
	Description string `json:"description,omitempty"`
}

// TestSpec says what a test checks.
type TestSpec struct {
	Name     string         // generic test name ("unique") or "" for singular tests
	Package  string         // package whose macro defines a custom generic test ("" for the project)
	Attached string         // ID of the node it tests ("" for singular tests without refs)
	Column   string         // column under test, if any
	Args     map[string]any // keyword arguments of the generic test
	Severity string         // "error" or "warn"
}

// Relation is the name of the node in the warehouse.
func (n *Node) Relation() string {
	if n.Alias != "" {
		return n.Alias
	}
	return n.Name
}

// TableVersion is one kept, earlier version of a published table.
type TableVersion struct {
	Node      string    `json:"node"`     // node ID
	Relation  string    `json:"relation"` // schema.name of the live table
	Version   int       `json:"version"`
	Stored    string    `json:"stored"` // schema.name where this version is kept
	RunID     string    `json:"run_id"`
	CreatedAt time.Time `json:"created_at"`
	Rows      int64     `json:"rows"`
}
