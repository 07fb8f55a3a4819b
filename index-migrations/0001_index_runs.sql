-- The console's record of STAC indexer runs in this index database, beside the datasets they wrote
-- (docs/adr/0010-indexing.md): one row per run with its scope, counters and resume point, and one
-- row per item that could not be indexed, with the reason.

CREATE SCHEMA IF NOT EXISTS piksel;

CREATE TABLE piksel.index_run (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  environment text NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'completed', 'cancelled', 'failed', 'interrupted')),
  trigger text NOT NULL CHECK (trigger IN ('console', 'cli', 'schedule', 'start-up')),
  started_by text NOT NULL,
  -- The STAC API searched, and the search: {"bbox": [w, s, e, n], "datetime": "a/b", "collections": [...]}.
  catalog text NOT NULL,
  scope jsonb NOT NULL,
  -- Hash of catalog and scope: a run resumes only an unfinished run of the same search.
  scope_key text NOT NULL,
  limit_pages integer,
  resumed_from bigint REFERENCES piksel.index_run (id),
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  -- Items of the search that runs before this one (resumed from) already went through.
  items_before bigint NOT NULL DEFAULT 0,
  pages integer NOT NULL DEFAULT 0,
  items bigint NOT NULL DEFAULT 0,
  added bigint NOT NULL DEFAULT 0,
  updated bigint NOT NULL DEFAULT 0,
  skipped bigint NOT NULL DEFAULT 0,
  archived bigint NOT NULL DEFAULT 0,
  failed bigint NOT NULL DEFAULT 0,
  retries integer NOT NULL DEFAULT 0,
  number_matched bigint,
  -- The request of the first page not yet committed; null once the search is exhausted.
  next_request jsonb,
  -- Superseded datasets to archive once their successors are committed: [{"older": uuid, "newer": uuid}].
  pending_archive jsonb NOT NULL DEFAULT '[]'::jsonb,
  cancel_requested boolean NOT NULL DEFAULT false,
  error text
);

CREATE INDEX index_run_environment_started ON piksel.index_run (environment, id DESC);
CREATE INDEX index_run_scope ON piksel.index_run (environment, scope_key, id DESC);

CREATE TABLE piksel.index_failure (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id bigint NOT NULL REFERENCES piksel.index_run (id) ON DELETE CASCADE,
  page integer,
  item_id text,
  dataset_id uuid,
  -- invalid-item, unknown-collection, missing-geometry, no-assets, missing-proj, missing-link,
  -- unsupported-crs (conversion), rejected (by the index), page (the catalogue failed).
  problem text NOT NULL,
  reason text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX index_failure_run ON piksel.index_failure (run_id, id);
