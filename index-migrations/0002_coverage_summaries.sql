-- Coverage summaries of this index (docs/adr/0014-coverage-summaries.md): what the Coverage page and
-- the explorer-compatible GeoJSON endpoints read, so that no request scans agdc.dataset. Filled by
-- src/features/coverage/server/summaries.ts after every indexer run (incrementally, from
-- agdc.dataset.added / updated) and by `piksel index coverage --env X --rebuild`.

-- One row per active dataset: where (cell, lon/lat bounds) and when it counts. It lets a refresh take
-- a changed dataset out of the cell and day it counted in before, whatever its document says now.
CREATE TABLE piksel.coverage_dataset (
  id uuid PRIMARY KEY,
  product_ref smallint NOT NULL,
  -- The product's region code (Sentinel-2: the MGRS tile, e.g. 48MYT), else a one-degree lon/lat cell.
  cell text NOT NULL,
  -- Start of acquisition (lower end of ODC's `time` range).
  time timestamptz NOT NULL,
  west double precision NOT NULL,
  south double precision NOT NULL,
  east double precision NOT NULL,
  north double precision NOT NULL
);
CREATE INDEX coverage_dataset_cell_time ON piksel.coverage_dataset (product_ref, cell, time DESC);

-- Per product x cell x period (UTC day 'd', month 'm', year 'y'): count, time extent and the lon/lat
-- bounds of the datasets (the simplified footprint). A time range is answered from whole years,
-- whole months and the days at its ends, so no query sums more than a few hundred rows per cell.
CREATE TABLE piksel.coverage_period (
  product_ref smallint NOT NULL,
  level "char" NOT NULL CHECK (level IN ('d', 'm', 'y')),
  period date NOT NULL,
  cell text NOT NULL,
  datasets integer NOT NULL CHECK (datasets > 0),
  first_time timestamptz NOT NULL,
  last_time timestamptz NOT NULL,
  west double precision NOT NULL,
  south double precision NOT NULL,
  east double precision NOT NULL,
  north double precision NOT NULL,
  PRIMARY KEY (product_ref, level, period, cell)
);
CREATE INDEX coverage_period_cell ON piksel.coverage_period (product_ref, cell, level, period);

-- Per product x period, all cells together: the time histogram without summing every cell.
CREATE TABLE piksel.coverage_timeline (
  product_ref smallint NOT NULL,
  level "char" NOT NULL CHECK (level IN ('d', 'm', 'y')),
  period date NOT NULL,
  datasets integer NOT NULL CHECK (datasets > 0),
  PRIMARY KEY (product_ref, level, period)
);

-- Where the last refresh got to: datasets added or updated after `watermark` are not summarised yet.
CREATE TABLE piksel.coverage_state (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  watermark timestamptz NOT NULL,
  refreshed_at timestamptz NOT NULL,
  rebuilt_at timestamptz,
  -- What the last refresh did: "rebuild" or "incremental", datasets looked at, and how long it took.
  last_mode text NOT NULL CHECK (last_mode IN ('rebuild', 'incremental')),
  last_changed bigint NOT NULL,
  last_ms integer NOT NULL
);
