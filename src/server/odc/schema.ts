import "server-only";

/**
 * The `agdc` schema of datacube-core 1.8 (legacy `postgres` index driver), statement by statement as
 * `datacube system init` issues it (`datacube/drivers/postgres/_core.py` `ensure_db`, tables from
 * `_schema.py` rendered by SQLAlchemy with `_core.SQL_NAMING_CONVENTIONS`, functions and types from
 * `sql.py`). Checked against a real `datacube system init` by tests/reference/datacube.
 */

/** Minimal query surface, so that the DDL can run on a pool client inside a transaction. */
export interface SqlRunner {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}

export const SCHEMA_NAME = "agdc";

/** ODC's roles, each inheriting the one before (`_core.USER_ROLES`). */
export const ODC_ROLES = ["agdc_user", "agdc_ingest", "agdc_manage", "agdc_admin"] as const;

// sql.py TYPES_INIT_SQL: search expressions parse times with common_timestamp() and compare lat/lon as
// float8range. Both must exist before any dynamic index can be created.
const typesSql = `
create or replace function agdc.common_timestamp(text)
returns timestamp with time zone as $$
select ($1)::timestamp at time zone 'utc';
$$ language sql immutable returns null on null input;

create type agdc.float8range as range (
    subtype = float8,
    subtype_diff = float8mi
);
`;

// _schema.py as SQLAlchemy's create_all() renders it (constraint names from the naming convention;
// `index=True` columns get ix_agdc_<table>_<column>).
const tablesSql = [
  `CREATE TABLE agdc.metadata_type (
	id SMALLSERIAL NOT NULL,
	name VARCHAR NOT NULL,
	definition JSONB NOT NULL,
	added TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
	added_by NAME DEFAULT CURRENT_USER NOT NULL,
	CONSTRAINT pk_metadata_type PRIMARY KEY (id),
	CONSTRAINT ck_metadata_type_alphanumeric_name CHECK (name ~* '^\\w+$'),
	CONSTRAINT uq_metadata_type_name UNIQUE (name)
)`,
  `CREATE TABLE agdc.dataset_type (
	id SMALLSERIAL NOT NULL,
	name VARCHAR NOT NULL,
	metadata JSONB NOT NULL,
	metadata_type_ref SMALLINT NOT NULL,
	definition JSONB NOT NULL,
	added TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
	added_by NAME DEFAULT CURRENT_USER NOT NULL,
	CONSTRAINT pk_dataset_type PRIMARY KEY (id),
	CONSTRAINT ck_dataset_type_alphanumeric_name CHECK (name ~* '^\\w+$'),
	CONSTRAINT uq_dataset_type_name UNIQUE (name),
	CONSTRAINT fk_dataset_type_metadata_type_ref_metadata_type FOREIGN KEY(metadata_type_ref) REFERENCES agdc.metadata_type (id)
)`,
  `CREATE TABLE agdc.dataset (
	id UUID NOT NULL,
	metadata_type_ref SMALLINT NOT NULL,
	dataset_type_ref SMALLINT NOT NULL,
	metadata JSONB NOT NULL,
	archived TIMESTAMP WITH TIME ZONE,
	added TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
	added_by NAME DEFAULT CURRENT_USER NOT NULL,
	CONSTRAINT pk_dataset PRIMARY KEY (id),
	CONSTRAINT fk_dataset_metadata_type_ref_metadata_type FOREIGN KEY(metadata_type_ref) REFERENCES agdc.metadata_type (id),
	CONSTRAINT fk_dataset_dataset_type_ref_dataset_type FOREIGN KEY(dataset_type_ref) REFERENCES agdc.dataset_type (id)
)`,
  "CREATE INDEX ix_ds_isactive ON agdc.dataset ((archived IS NULL))",
  "CREATE INDEX ix_ds_prod_isactive ON agdc.dataset (dataset_type_ref, (archived IS NULL))",
  "CREATE INDEX ix_agdc_dataset_dataset_type_ref ON agdc.dataset (dataset_type_ref)",
  "CREATE INDEX ix_ds_mdt_isactive ON agdc.dataset (metadata_type_ref, (archived IS NULL))",
  `CREATE TABLE agdc.dataset_location (
	id SERIAL NOT NULL,
	dataset_ref UUID NOT NULL,
	uri_scheme VARCHAR NOT NULL,
	uri_body VARCHAR NOT NULL,
	added TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
	added_by NAME DEFAULT CURRENT_USER NOT NULL,
	archived TIMESTAMP WITH TIME ZONE,
	CONSTRAINT pk_dataset_location PRIMARY KEY (id),
	CONSTRAINT uq_dataset_location_uri_scheme UNIQUE (uri_scheme, uri_body, dataset_ref),
	CONSTRAINT fk_dataset_location_dataset_ref_dataset FOREIGN KEY(dataset_ref) REFERENCES agdc.dataset (id)
)`,
  "CREATE INDEX ix_agdc_dataset_location_dataset_ref ON agdc.dataset_location (dataset_ref)",
  `CREATE TABLE agdc.dataset_source (
	dataset_ref UUID NOT NULL,
	classifier VARCHAR NOT NULL,
	source_dataset_ref UUID NOT NULL,
	CONSTRAINT pk_dataset_source PRIMARY KEY (dataset_ref, classifier),
	CONSTRAINT uq_dataset_source_source_dataset_ref UNIQUE (source_dataset_ref, dataset_ref),
	CONSTRAINT fk_dataset_source_dataset_ref_dataset FOREIGN KEY(dataset_ref) REFERENCES agdc.dataset (id),
	CONSTRAINT fk_dataset_source_source_dataset_ref_dataset FOREIGN KEY(source_dataset_ref) REFERENCES agdc.dataset (id)
)`,
];

// `_core.install_timestamp_trigger` and `install_added_column` (the post-1.8.3 incremental-sync
// columns): `updated` set by a trigger on every update of the three main tables.
const updateTimestampSql = `
create or replace function agdc.set_row_update_time()
returns trigger as $$
begin
  new.updated = now();
  return new;
end;
$$ language plpgsql;
`;
const triggeredTables = ["metadata_type", "dataset_type", "dataset"];
const triggerSql = (table: string) => [
  `alter table agdc.${table} add column if not exists updated\ntimestamptz default null;`,
  `drop trigger if exists row_update_time_${table} on agdc.${table};
create trigger row_update_time_${table}
before update on agdc.${table}
for each row
execute procedure agdc.set_row_update_time();`,
];
const addedColumnSql = "alter table agdc.dataset_location add column if not exists added\ntimestamptz default now();";

/** The statements that create the schema, in ODC's order (run in one transaction). */
export function createSchemaStatements(): string[] {
  return [
    "CREATE SCHEMA agdc",
    typesSql,
    ...tablesSql,
    updateTimestampSql,
    ...triggeredTables.flatMap(triggerSql),
    addedColumnSql,
  ];
}

/** `_core.ensure_db` grants to the ODC roles, run once the schema exists. */
export const grantsSql = `
grant usage on schema agdc to agdc_user;
grant select on all tables in schema agdc to agdc_user;
grant execute on function agdc.common_timestamp(text) to agdc_user;

grant insert on agdc.dataset,
                agdc.dataset_location,
                agdc.dataset_source to agdc_ingest;
grant usage, select on all sequences in schema agdc to agdc_ingest;

grant insert, delete on agdc.dataset_type,
                        agdc.metadata_type to agdc_manage;
grant create on schema agdc to agdc_manage;
`;

const roleSql: Record<(typeof ODC_ROLES)[number], string> = {
  agdc_user: "create role agdc_user nologin inherit nocreaterole nocreatedb",
  agdc_ingest: "create role agdc_ingest nologin inherit nocreaterole nocreatedb in role agdc_user",
  agdc_manage: "create role agdc_manage nologin inherit nocreaterole nocreatedb in role agdc_ingest",
  agdc_admin: "create role agdc_admin nologin inherit createrole nocreatedb in role agdc_manage",
};

// Roles are global to the server, and advisory locks are per database: another database's init may
// create a role between our check and our create. Losing that race is the same as finding the role.
const DUPLICATE_OBJECT = "42710";
const UNIQUE_VIOLATION = "23505";

/**
 * `_core._ensure_role` for the four ODC roles, then `grant all on database <db> to agdc_admin`. Runs
 * inside the caller's transaction; a role that another database's init creates meanwhile is rolled
 * back to a savepoint and taken as found.
 */
export async function ensureRoles(db: SqlRunner): Promise<void> {
  for (const role of ODC_ROLES) {
    const { rowCount } = await db.query("SELECT rolname FROM pg_roles WHERE rolname = $1", [role]);
    if (rowCount) continue;
    await db.query("SAVEPOINT odc_role");
    try {
      await db.query(roleSql[role]);
      await db.query("RELEASE SAVEPOINT odc_role");
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== DUPLICATE_OBJECT && code !== UNIQUE_VIOLATION) throw err;
      await db.query("ROLLBACK TO SAVEPOINT odc_role");
    }
  }
  const { rows } = await db.query("select quote_ident(current_database()) as db");
  await db.query(`grant all on database ${String(rows[0]?.db)} to agdc_admin`);
}

/** Whether the `agdc` schema exists: ODC's only test of an initialised index (`_core.has_schema`). */
export async function hasSchema(db: SqlRunner): Promise<boolean> {
  const { rowCount } = await db.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [SCHEMA_NAME]);
  return (rowCount ?? 0) > 0;
}

/**
 * Whether an existing schema has what 1.8.3+ added (`agdc.dataset.updated`); ODC has no version table
 * and tests for this column instead (`_core.update_schema`).
 */
export async function schemaIsCurrent(db: SqlRunner): Promise<boolean> {
  const { rowCount } = await db.query(
    "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('agdc.dataset') AND attname = 'updated' AND NOT attisdropped",
  );
  return (rowCount ?? 0) > 0;
}
