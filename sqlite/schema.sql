create table if not exists runs (
  id         text primary key,
  command    text not null,
  args       text not null default '',
  started_by text not null default '',
  status     text not null,
  started_at text not null,
  ended_at   text
);
create index if not exists runs_started on runs (started_at);

create table if not exists node_results (
  seq          integer primary key autoincrement,
  run_id       text not null references runs (id) on delete cascade,
  node         text not null,
  kind         text not null,
  status       text not null,
  started_at   text,
  duration_ns  integer not null default 0,
  rows         integer not null default 0,
  attempts     integer not null default 0,
  message      text not null default '',
  compiled_sql text not null default '',
  unique (run_id, node)
);
create index if not exists node_results_node on node_results (node, seq);

create table if not exists table_versions (
  node       text not null,
  relation   text not null,
  version    integer not null,
  stored     text not null,
  run_id     text not null default '',
  created_at text not null,
  rows       integer not null default 0,
  primary key (node, version)
);

create table if not exists job_state (
  job            text primary key,
  last_scheduled text,
  data_mark      text not null default ''
);

create table if not exists backfill_intervals (
  backfill    text not null,
  node        text not null,
  start       text not null,
  "end"       text not null,
  status      text not null,
  run_id      text not null default '',
  rows        integer not null default 0,
  message     text not null default '',
  finished_at text,
  primary key (backfill, start)
);

create table if not exists tokens (
  id         text primary key,
  name       text not null,
  role       text not null,
  hash       text not null unique,
  created_at text not null
);

-- Web UI sessions: only the hash of the cookie's random id is kept; revoking
-- a token ends its sessions.
create table if not exists sessions (
  hash       text primary key,
  token_id   text not null references tokens(id) on delete cascade,
  created_at text not null,
  expires_at text not null
);

create table if not exists audit (
  seq    integer primary key autoincrement,
  at     text not null,
  actor  text not null,
  action text not null,
  target text not null default '',
  detail text not null default ''
);

create table if not exists incidents (
  key       text not null,
  owner     text not null default '',
  summary   text not null default '',
  opened_at text not null,
  closed_at text
);
create unique index if not exists incidents_open on incidents (key) where closed_at is null;

-- The real time at which a project's platform clock (clock.start in
-- tandem.yaml) read its start: every process shares it.
create table if not exists clock_anchors (
  start  text primary key,
  anchor text not null
);
