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
