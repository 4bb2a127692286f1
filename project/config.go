package project

import "time"

// dbtProject is dbt_project.yml. Every top-level key dbt documents is known,
// so a typo is caught; keys Tandem ignores are listed as such.
type dbtProject struct {
	Name           string         `yaml:"name"`
	Version        any            `yaml:"version"`
	ConfigVersion  int            `yaml:"config-version"`
	Profile        string         `yaml:"profile"`
	ModelPaths     []string       `yaml:"model-paths"`
	SourcePaths    []string       `yaml:"source-paths"` // dbt < 1.0 name of model-paths
	SeedPaths      []string       `yaml:"seed-paths"`
	DataPaths      []string       `yaml:"data-paths"` // dbt < 1.0 name of seed-paths
	TestPaths      []string       `yaml:"test-paths"`
	MacroPaths     []string       `yaml:"macro-paths"`
	DocsPaths      []string       `yaml:"docs-paths"`
	AnalysisPaths  []string       `yaml:"analysis-paths"`
	SnapshotPaths  []string       `yaml:"snapshot-paths"`
	AssetPaths     []string       `yaml:"asset-paths"`
	TargetPath     string         `yaml:"target-path"`
	LogPath        string         `yaml:"log-path"`
	PackagesPath   string         `yaml:"packages-install-path"`
	CleanTargets   []string       `yaml:"clean-targets"`
	RequireDBT     any            `yaml:"require-dbt-version"`
	Models         map[string]any `yaml:"models"`
	Seeds          map[string]any `yaml:"seeds"`
	Tests          map[string]any `yaml:"tests"`
	DataTests      map[string]any `yaml:"data_tests"`
	Sources        map[string]any `yaml:"sources"`
	Snapshots      map[string]any `yaml:"snapshots"`
	Vars           map[string]any `yaml:"vars"`
	OnRunStart     any            `yaml:"on-run-start"`
	OnRunEnd       any            `yaml:"on-run-end"`
	Quoting        map[string]any `yaml:"quoting"`
	Flags          map[string]any `yaml:"flags"`
	Dispatch       any            `yaml:"dispatch"`
	QueryComment   any            `yaml:"query-comment"`
	Metrics        any            `yaml:"metrics"`
	Exposures      any            `yaml:"exposures"`
	SemanticModels any            `yaml:"semantic-models"`
	SavedQueries   any            `yaml:"saved-queries"`
	RestrictAccess any            `yaml:"restrict-access"`
	UnitTests      any            `yaml:"unit_tests"`
	Analyses       any            `yaml:"analyses"`
	DBTCloud       any            `yaml:"dbt-cloud"`
	Functions      any            `yaml:"functions"`
	DataTestsPaths any            `yaml:"data-test-paths"`
}

// profiles is profiles.yml: profile name -> targets.
type profile struct {
	Target  string            `yaml:"target"`
	Outputs map[string]output `yaml:"outputs"`
}

type output struct {
	Type         string         `yaml:"type"`
	Path         string         `yaml:"path"`
	Schema       string         `yaml:"schema"`
	Database     string         `yaml:"database"`
	Threads      int            `yaml:"threads"`
	Extensions   []any          `yaml:"extensions"`
	Settings     map[string]any `yaml:"settings"`
	Attach       []any          `yaml:"attach"`
	Plugins      []any          `yaml:"plugins"`
	Filesystem   []any          `yaml:"filesystems"`
	ExternalRoot string         `yaml:"external_root"`
	Retries      any            `yaml:"retries"`
	ModuleP      any            `yaml:"module_paths"`
	Secrets      []any          `yaml:"secrets"`
	DisableTx    bool           `yaml:"disable_transactions"`
	KeepOpen     bool           `yaml:"keep_open"`
}

// Settings is tandem.yaml: what Tandem needs beyond dbt. Every field has a
// default, so the file is optional.
type Settings struct {
	Warehouse struct {
		Path string `yaml:"path"` // DuckDB file; overrides profiles.yml
		// DataPaths are the directories outside the project that SQL run by
		// tandem serve may read and write (see SECURITY.md); the project
		// directory always is one.
		DataPaths []string `yaml:"data_paths"`
	} `yaml:"warehouse"`
	Metastore struct {
		Path string `yaml:"path"` // SQLite file
	} `yaml:"metastore"`
	Features     FeatureSettings `yaml:"features"`
	ML           MLSettings      `yaml:"ml"`
	Threads      int             `yaml:"threads"`
	KeepVersions int             `yaml:"keep_versions"` // earlier versions of each table kept for rollback
	Owner        string          `yaml:"owner"`         // default owner of every node
	Retries      struct {
		Attempts int           `yaml:"attempts"` // per node, including the first
		Backoff  time.Duration `yaml:"backoff"`  // doubled after each attempt
	} `yaml:"retries"`
	// Clock sets the platform's clock for a project whose data lives in
	// another time (the shop example's ends in 2011): "now" read Start when
	// the project first ran with it, and runs at normal speed from there,
	// for tandem serve, the CLI and the UI alike. Zero: the real time.
	Clock struct {
		Start time.Time `yaml:"start"`
	} `yaml:"clock"`
	Schedules []JobSpec       `yaml:"schedules"`
	Alerts    AlertSettings   `yaml:"alerts"`
	Serve     ServeSettings   `yaml:"serve"`
	Collect   CollectSettings `yaml:"collect"`
}

// MLSettings say where trained models are kept.
type MLSettings struct {
	Registry string `yaml:"registry"` // versions, artifacts, aliases and audit (target/models)
}

// FeatureSettings say where the feature store keeps what it serves.
type FeatureSettings struct {
	OnlineStore  string `yaml:"online_store"`  // the embedded online store file (target/online.db)
	TrainingSets string `yaml:"training_sets"` // where training set records go (target/training_sets)
	// Materialize is when tandem serve materializes every online view
	// incrementally (a cron expression; @hourly by default; "" or "off" never).
	Materialize string `yaml:"materialize"`
}

// CollectSettings tune the event collector of tandem serve.
type CollectSettings struct {
	LogDir      string        `yaml:"log_dir"`      // the event log (target/eventlog)
	DedupWindow time.Duration `yaml:"dedup_window"` // duplicates by messageId are dropped within it (7 days)
	MaxBehind   int64         `yaml:"max_behind"`   // records the loader may lag before the collector answers 503
	Linger      time.Duration `yaml:"linger"`       // how long an append waits to share an fsync (0)
	LoadEvery   time.Duration `yaml:"load_every"`   // the least time between two loader batches that are not full (500ms)
	Retention   Retention     `yaml:"retention"`
	Owner       string        `yaml:"owner"` // alerted when the loader sets a record aside (the project's owner)
}

// Retention says how long the event log keeps what the loader has loaded:
// whole segments go when their newest record is older than MaxAge or
// while the log is bigger than MaxBytes. Unloaded records always stay.
type Retention struct {
	MaxAge   time.Duration `yaml:"max_age"`   // 8 days (beyond the 7-day dedup window, which is rebuilt from the log); 0: forever
	MaxBytes int64         `yaml:"max_bytes"` // 0: no limit
}

// JobSpec is one entry of schedules: in tandem.yaml.
type JobSpec struct {
	Name        string   `yaml:"name"`
	Command     string   `yaml:"command"` // build (default), run, seed, test
	Select      []string `yaml:"select"`
	Exclude     []string `yaml:"exclude"`
	Cron        string   `yaml:"cron"`
	Timezone    string   `yaml:"timezone"`
	Catchup     string   `yaml:"catchup"` // latest (default), all, none
	Overlap     string   `yaml:"overlap"` // skip (default), queue
	OnNewData   bool     `yaml:"on_new_data"`
	FullRefresh bool     `yaml:"full_refresh"`
	Owner       string   `yaml:"owner"`
}

// AlertSettings route alerts to owners' webhooks (Slack-compatible).
type AlertSettings struct {
	DefaultWebhook string            `yaml:"default_webhook"`
	Owners         map[string]string `yaml:"owners"` // owner -> webhook URL
	Attempts       int               `yaml:"attempts"`
	Backoff        time.Duration     `yaml:"backoff"`
}

// ServeSettings tune tandem serve.
type ServeSettings struct {
	Addr   string        `yaml:"addr"`
	Poll   time.Duration `yaml:"poll"` // how often new data and freshness are checked
	Limits ServeLimits   `yaml:"limits"`
}

// ServeLimits bound what one client can hold of the server (see
// SECURITY.md): timeouts, header size and open connections.
type ServeLimits struct {
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"` // 10s
	ReadTimeout       time.Duration `yaml:"read_timeout"`        // the whole request, body included: 30s
	WriteTimeout      time.Duration `yaml:"write_timeout"`       // 60s
	IdleTimeout       time.Duration `yaml:"idle_timeout"`        // 120s
	MaxHeaderBytes    int           `yaml:"max_header_bytes"`    // 65536
	MaxConns          int           `yaml:"max_conns"`           // 1000
}

func defaultSettings() Settings {
	var s Settings
	s.Warehouse.Path = "target/warehouse.duckdb"
	s.Metastore.Path = "target/tandem.db"
	s.Features.OnlineStore = "target/online.db"
	s.Features.TrainingSets = "target/training_sets"
	s.Features.Materialize = "@hourly"
	s.ML.Registry = "target/models"
	s.Threads = 4
	s.KeepVersions = 3
	s.Retries.Attempts = 3
	s.Retries.Backoff = 200 * time.Millisecond
	s.Alerts.Attempts = 5
	s.Alerts.Backoff = time.Second
	s.Serve.Addr = "127.0.0.1:8080"
	s.Serve.Poll = 30 * time.Second
	s.Serve.Limits = ServeLimits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10, MaxConns: 1000}
	s.Collect.LogDir = "target/eventlog"
	s.Collect.DedupWindow = 7 * 24 * time.Hour
	s.Collect.MaxBehind = 1_000_000
	s.Collect.LoadEvery = 500 * time.Millisecond
	s.Collect.Retention.MaxAge = 8 * 24 * time.Hour
	return s
}

// schemaFile is a models/**/*.yml properties file.
type schemaFile struct {
	Version        any              `yaml:"version"`
	Models         []modelProps     `yaml:"models"`
	Seeds          []modelProps     `yaml:"seeds"`
	Sources        []sourceProps    `yaml:"sources"`
	Macros         []map[string]any `yaml:"macros"`
	Exposures      []map[string]any `yaml:"exposures"`
	Metrics        []map[string]any `yaml:"metrics"`
	Snapshots      []map[string]any `yaml:"snapshots"`
	Analyses       []map[string]any `yaml:"analyses"`
	SemanticModels []map[string]any `yaml:"semantic_models"`
	SavedQueries   []map[string]any `yaml:"saved_queries"`
	UnitTests      []map[string]any `yaml:"unit_tests"`
	Groups         []map[string]any `yaml:"groups"`
	DataTests      []map[string]any `yaml:"data_tests"`
}

type modelProps struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Config      map[string]any `yaml:"config"`
	Columns     []columnProps  `yaml:"columns"`
	Tests       []any          `yaml:"tests"`
	DataTests   []any          `yaml:"data_tests"`
	Meta        map[string]any `yaml:"meta"`
	Docs        map[string]any `yaml:"docs"`
	Access      string         `yaml:"access"`
	Group       string         `yaml:"group"`
	Latest      any            `yaml:"latest_version"`
	Versions    []any          `yaml:"versions"`
	Constraints []any          `yaml:"constraints"`
	Deprecation any            `yaml:"deprecation_date"`
	Tags        []string       `yaml:"tags"`
	TimeSpine   any            `yaml:"time_spine"`
}

type columnProps struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	DataType    string         `yaml:"data_type"`
	Tests       []any          `yaml:"tests"`
	DataTests   []any          `yaml:"data_tests"`
	Meta        map[string]any `yaml:"meta"`
	Quote       bool           `yaml:"quote"`
	Tags        []string       `yaml:"tags"`
	Constraints []any          `yaml:"constraints"`
	Policy      any            `yaml:"policy_tags"`
	Granularity any            `yaml:"granularity"`
	Config      map[string]any `yaml:"config"`
}

type sourceProps struct {
	Name          string         `yaml:"name"`
	Description   string         `yaml:"description"`
	Schema        string         `yaml:"schema"`
	Database      string         `yaml:"database"`
	Loader        string         `yaml:"loader"`
	LoadedAtField string         `yaml:"loaded_at_field"`
	Freshness     any            `yaml:"freshness"`
	Meta          map[string]any `yaml:"meta"`
	Config        map[string]any `yaml:"config"`
	Tags          []string       `yaml:"tags"`
	Quoting       any            `yaml:"quoting"`
	Overrides     string         `yaml:"overrides"`
	Tables        []sourceTable  `yaml:"tables"`
}

type sourceTable struct {
	Name             string         `yaml:"name"`
	Identifier       string         `yaml:"identifier"`
	Description      string         `yaml:"description"`
	Columns          []columnProps  `yaml:"columns"`
	Tests            []any          `yaml:"tests"`
	DataTests        []any          `yaml:"data_tests"`
	Meta             map[string]any `yaml:"meta"`
	Config           map[string]any `yaml:"config"`
	Tags             []string       `yaml:"tags"`
	LoadedAtField    string         `yaml:"loaded_at_field"`
	Freshness        any            `yaml:"freshness"`
	ExternalLocation string         `yaml:"external_location"`
	Quoting          any            `yaml:"quoting"`
}
