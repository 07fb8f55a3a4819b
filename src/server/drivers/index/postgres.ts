import "server-only";
import pg from "pg";
import { redactUrl, withTimeout } from "../port";
import type { IndexPort } from "./index";

/** ODC index on PostgreSQL (datacube-core 1.8 legacy `postgres` driver, schema `agdc`). */
export function createPostgresIndex(url: string): IndexPort {
  const pool = new pg.Pool({ connectionString: url, max: 5, connectionTimeoutMillis: 5000 });
  // An idle client that loses its server must not crash the process.
  pool.on("error", () => undefined);
  const hasSchema = async () => (await pool.query("select 1 from information_schema.schemata where schema_name = 'agdc'")).rowCount === 1;
  return {
    driver: "postgres",
    endpoint: redactUrl(url),
    async check() {
      await withTimeout(pool.query("select 1"), 5000, "ODC index database");
      return (await hasSchema()) ? "agdc schema present" : "reachable; no agdc schema yet";
    },
    async productCounts() {
      if (!(await hasSchema())) return [];
      const { rows } = await pool.query<{ product: string; datasets: string }>(
        `select t.name as product, count(d.id) as datasets
           from agdc.dataset_type t left join agdc.dataset d on d.dataset_type_ref = t.id and d.archived is null
          group by t.name order by t.name`,
      );
      return rows.map((r) => ({ product: r.product, datasets: Number(r.datasets) }));
    },
    close: () => pool.end(),
  };
}
