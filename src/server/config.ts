import "server-only";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { parseGridSpec } from "~/lib/grid";
import { jobSettingsSchema } from "./drivers/cluster/job-manifest";

/**
 * The one place that reads configuration (STYLE.md 3): an optional YAML/JSON file named by
 * PIKSEL_CONFIG, then a few environment-variable overrides, validated with zod. With no file at all
 * the embedded default applies: three environments on local drivers under the data directory.
 */

const validGrid = (g: string) => {
  try {
    parseGridSpec(g);
    return true;
  } catch {
    return false;
  }
};

const name = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "lower-case letters, digits and '-', starting with a letter");
const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\/\S+$/, "a PostgreSQL URL such as postgres://user:pass@host:5432/db");
const httpUrl = z.string().regex(/^https?:\/\/\S+$/, "an http(s):// URL");
const bbox = z
  .tuple([z.number().min(-180).max(180), z.number().min(-90).max(90), z.number().min(-180).max(180), z.number().min(-90).max(90)])
  .refine(([w, s, e, n]) => w < e && s < n, "west < east and south < north");

const gitopsConfig = z.object({
  /** git remote of piksel-kubernetes: a URL, or a path to a bare repository on disk. */
  remote: z.string().min(1),
  branch: z.string().min(1).default("main"),
  /** Kustomize overlay of this environment, relative to the repository root. */
  overlayPath: z.string().min(1),
});

const registryConfig = z.discriminatedUnion("driver", [
  z.object({
    driver: z.literal("oci"),
    url: httpUrl,
    repository: z.string().min(1),
    auth: z
      .discriminatedUnion("type", [
        z.object({ type: z.literal("anonymous") }),
        z.object({ type: z.literal("basic"), username: z.string(), password: z.string() }),
        z.object({ type: z.literal("bearer"), token: z.string() }),
        z.object({ type: z.literal("ecr"), region: z.string() }),
      ])
      .default({ type: "anonymous" }),
  }),
  z.object({ driver: z.literal("layout"), path: z.string().min(1), repository: z.string().min(1) }),
]);

const clusterConfig = z.discriminatedUnion("driver", [
  z.object({
    driver: z.literal("kubernetes"),
    /** Path of a kubeconfig; absent = in-cluster service account or $KUBECONFIG. */
    kubeconfig: z.string().optional(),
    context: z.string().optional(),
    namespace: z.string().default("piksel"),
    fluxNamespace: z.string().default("flux-system"),
    kustomization: z.string().min(1),
    /** How geomedian Jobs run here: parallelism, retries per index, resources, service account… */
    jobs: jobSettingsSchema.prefault({}),
  }),
  z.object({
    driver: z.literal("local"),
    stateDir: z.string().min(1),
    /** Seconds the local Flux waits before applying a new commit (so every state is visible). */
    reconcileDelaySeconds: z.number().min(0).default(3),
    jobs: jobSettingsSchema.prefault({}),
  }),
]);

const objectsConfig = z.discriminatedUnion("driver", [
  z.object({
    driver: z.literal("s3"),
    bucket: z.string().min(3),
    region: z.string().default("us-west-2"),
    endpoint: httpUrl.optional(),
    forcePathStyle: z.boolean().default(false),
  }),
  z.object({ driver: z.literal("local"), root: z.string().min(1), bucket: z.string().min(3) }),
]);

const catalogConfig = z.object({ driver: z.literal("stac").default("stac"), url: httpUrl });

const scopeConfig = z.object({
  bbox,
  datetime: z.string().regex(/^\S+\/\S+$/, "an RFC 3339 interval such as 2024-01-01/2024-12-31"),
  collections: z.array(z.string().min(1)).min(1).default(["sentinel-2-l2a"]),
});

const policyConfig = z.object({
  /** Approvals a promotion into this environment needs (DESIGN: prod 2, staging 0). */
  approvals: z.number().int().min(0).default(0),
  /** Minutes a digest must have run in this environment before it may move on. */
  soakMinutes: z.number().min(0).default(0),
  /** Validation names that must have passed here before a digest may leave for the next environment. */
  requiredValidations: z.array(z.string()).default([]),
  /** Freeze windows in which new promotions into this environment are refused. */
  freezes: z.array(z.object({ from: z.iso.datetime({ offset: true }), to: z.iso.datetime({ offset: true }), reason: z.string() })).default([]),
  /** Largest AOI each role may request here, in km² (roles without an entry have no limit). */
  maxAoiKm2: z.partialRecord(z.enum(["viewer", "requester", "approver", "admin"]), z.number().positive()).default({ requester: 5_000, approver: 20_000 }),
});

const environmentConfig = z.object({
  name,
  label: z.string().optional(),
  /** ODC index database; absent = a database on the embedded PostgreSQL. */
  index: z.object({ url: postgresUrl.optional() }).default({}),
  gitops: gitopsConfig,
  registry: registryConfig,
  cluster: clusterConfig,
  objects: objectsConfig,
  catalog: catalogConfig,
  scope: scopeConfig,
  policy: policyConfig.default(policyConfig.parse({})),
});

const oidcConfig = z.object({
  issuer: httpUrl,
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  /** Claim that lists the user's groups (Cognito: cognito:groups; Keycloak: groups). */
  groupsClaim: z.string().default("groups"),
  /** Group name -> role; the highest role among the user's groups wins; none = viewer. */
  roleMap: z.record(z.string(), z.enum(["viewer", "requester", "approver", "admin"])).default({}),
  scopes: z.array(z.string()).default(["openid", "profile", "email"]),
});

export const configSchema = z
  .object({
    dataDir: z.string().min(1),
    console: z
      .object({
        host: z.string().default("0.0.0.0"),
        port: z.number().int().min(1).max(65535).default(3000),
        /** Where browsers reach the console; used for auth callbacks and the CSRF origin check. */
        publicUrl: httpUrl.optional(),
      })
      .default({ host: "0.0.0.0", port: 3000 }),
    auth: z.object({
      /** Signs sessions; at least 32 characters. The embedded default generates one per data dir. */
      secret: z.string().min(32, "at least 32 characters (e.g. `openssl rand -base64 32`)").optional(),
      /** local = accounts with hashed passwords (embedded default); oidc = an OpenID Connect provider. */
      mode: z.enum(["local", "oidc"]).default("local"),
      oidc: oidcConfig.optional(),
    }).default({ mode: "local" }),
    /** App database; absent = the embedded PostgreSQL. */
    database: z.object({ url: postgresUrl.optional() }).default({}),
    embedded: z
      .object({
        postgresPort: z.number().int().min(1024).max(65535).default(54329),
        catalogPort: z.number().int().min(1024).max(65535).default(54330),
        /**
         * Only join the embedded PostgreSQL that another process runs on this data directory, never
         * start one: set by `piksel start` for its children (indexing, workers), so that a child that
         * outlives a stopping platform fails instead of starting a server of its own.
         */
        joinOnly: z.boolean().default(false),
      })
      .default({ postgresPort: 54329, catalogPort: 54330, joinOnly: false }),
    map: z.object({ styleUrl: httpUrl.optional() }).default({}),
    /** The annual geomedian product: its tile grid (odc-stats' `global_10`, or `global_10:<tile px>` for smaller tiles). */
    geomedian: z
      .object({ grid: z.string().refine(validGrid, "a grid such as global_10, global_10:960 or epsg:6933;10;9600") })
      .default({ grid: "global_10" }),
    /** Promotion events are POSTed as Slack-compatible JSON ({ text }) to this URL when set. */
    notifications: z.object({ webhookUrl: httpUrl.optional() }).default({}),
    environments: z.array(environmentConfig).min(1),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.environments.forEach((e, i) => {
      if (seen.has(e.name)) ctx.addIssue({ code: "custom", path: ["environments", i, "name"], message: `"${e.name}" is used twice; names must be unique` });
      seen.add(e.name);
    });
    if (c.auth.mode === "oidc" && !c.auth.oidc) ctx.addIssue({ code: "custom", path: ["auth", "oidc"], message: "required when auth.mode is oidc (issuer, clientId, clientSecret)" });
  });

export type PikselConfig = z.infer<typeof configSchema>;
export type EnvironmentConfig = PikselConfig["environments"][number];

/** A configuration that cannot be used; the message is one line naming the key and the expected form. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The three environments of the embedded default, all on local drivers below `dataDir`. */
export function embeddedEnvironments(dataDir: string, catalogPort: number): unknown[] {
  // A small area of Indonesia (west Java); staging and prod cover progressively more of it.
  const scopes: Record<string, { bbox: number[]; datetime: string }> = {
    dev: { bbox: [106.7, -6.6, 106.85, -6.45], datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z" },
    staging: { bbox: [106.6, -6.7, 107.0, -6.3], datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z" },
    prod: { bbox: [106.5, -6.8, 107.1, -6.2], datetime: "2024-01-01T00:00:00Z/2024-12-31T23:59:59Z" },
  };
  const policies: Record<string, object> = {
    dev: { approvals: 0 },
    staging: { approvals: 0, soakMinutes: 0, requiredValidations: ["smoke"] },
    prod: { approvals: 2 },
  };
  return ["dev", "staging", "prod"].map((env) => ({
    name: env,
    gitops: { remote: path.join(dataDir, "gitops", "piksel-kubernetes.git"), branch: "main", overlayPath: `overlays/${env}` },
    registry: { driver: "layout", path: path.join(dataDir, "registry"), repository: "piksel-core" },
    cluster: { driver: "local", stateDir: path.join(dataDir, "cluster", env) },
    objects: { driver: "local", root: path.join(dataDir, "objects"), bucket: `piksel-${env}-data` },
    catalog: { url: `http://127.0.0.1:${catalogPort}/v1` },
    scope: { ...scopes[env], collections: ["sentinel-2-l2a"] },
    policy: policies[env],
  }));
}

type Env = Record<string, string | undefined>;

function formatIssue(issue: z.core.$ZodIssue, source: string): string {
  const key = issue.path.length ? issue.path.map(String).join(".") : "(root)";
  return `Invalid configuration (${source}): ${key}: ${issue.message}`;
}

function readFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`Cannot read configuration file PIKSEL_CONFIG=${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}. Point PIKSEL_CONFIG at a readable YAML or JSON file, or unset it for the embedded default.`);
  }
  try {
    return YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`Configuration file ${file} is not valid YAML/JSON: ${(err as Error).message.split("\n")[0]}`);
  }
}

function intFromEnv(env: Env, key: string): number | undefined {
  const raw = env[key];
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`Invalid configuration (environment): ${key}: expected a whole number, got "${raw}"`);
  return Number(raw);
}

/**
 * Loads and validates the configuration. Throws ConfigError with one line naming the key.
 * Overrides: PIKSEL_DATA_DIR, DATABASE_URL, PORT, PIKSEL_PUBLIC_URL, PIKSEL_AUTH_SECRET,
 * PIKSEL_MAP_STYLE_URL, PIKSEL_EMBEDDED_PG_PORT, PIKSEL_EMBEDDED_CATALOG_PORT, PIKSEL_EMBEDDED_PG_JOIN_ONLY.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): PikselConfig {
  const file = env.PIKSEL_CONFIG;
  const source = file ? `PIKSEL_CONFIG=${file}` : "embedded default";
  const raw = (file ? readFile(path.resolve(cwd, file)) : {}) ?? {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(`Invalid configuration (${source}): (root): expected a mapping of keys`);
  const input = raw as Record<string, unknown>;
  const dataDir = path.resolve(cwd, env.PIKSEL_DATA_DIR || (input.dataDir as string | undefined) || ".piksel");
  const embedded = { ...(input.embedded as object | undefined) } as Record<string, unknown>;
  const pgPort = intFromEnv(env, "PIKSEL_EMBEDDED_PG_PORT");
  if (pgPort !== undefined) embedded.postgresPort = pgPort;
  const stacPort = intFromEnv(env, "PIKSEL_EMBEDDED_CATALOG_PORT");
  if (stacPort !== undefined) embedded.catalogPort = stacPort;
  if (env.PIKSEL_EMBEDDED_PG_JOIN_ONLY === "1") embedded.joinOnly = true;
  const catalogPort = (embedded.catalogPort as number | undefined) ?? 54330;
  const merged: Record<string, unknown> = {
    ...input,
    dataDir,
    embedded,
    environments: input.environments ?? embeddedEnvironments(dataDir, catalogPort),
    // The embedded default computes on one machine: 4.8 km tiles nested in odc-stats' 96 km ones.
    geomedian: input.geomedian ?? (input.environments ? undefined : { grid: "global_10:480" }),
    console: { ...(input.console as object | undefined), ...(intFromEnv(env, "PORT") !== undefined && { port: intFromEnv(env, "PORT") }), ...(env.PIKSEL_PUBLIC_URL && { publicUrl: env.PIKSEL_PUBLIC_URL }) },
    auth: { ...(input.auth as object | undefined), ...(env.PIKSEL_AUTH_SECRET && { secret: env.PIKSEL_AUTH_SECRET }) },
    database: { ...(input.database as object | undefined), ...(env.DATABASE_URL && { url: env.DATABASE_URL }) },
    map: { ...(input.map as object | undefined), ...(env.PIKSEL_MAP_STYLE_URL && { styleUrl: env.PIKSEL_MAP_STYLE_URL }) },
  };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(formatIssue(parsed.error.issues[0]!, source));
  return parsed.data;
}

/** True when some database of this configuration lives on the embedded PostgreSQL. */
export function needsEmbeddedPostgres(config: PikselConfig): boolean {
  return !config.database.url || config.environments.some((e) => !e.index.url);
}

const embeddedUrl = (config: PikselConfig, database: string) =>
  `postgres://postgres:postgres@127.0.0.1:${config.embedded.postgresPort}/${database}`;

/** The app database URL: configured, or the `piksel` database on the embedded server. */
export function appDatabaseUrl(config: PikselConfig): string {
  return config.database.url ?? embeddedUrl(config, "piksel");
}

/** The ODC index URL of one environment: configured, or `odc_<env>` on the embedded server. */
export function indexDatabaseUrl(config: PikselConfig, environment: EnvironmentConfig): string {
  return environment.index.url ?? embeddedUrl(config, `odc_${environment.name.replace(/-/g, "_")}`);
}

/** The URL browsers use to reach the console. */
export function publicUrl(config: PikselConfig): string {
  return config.console.publicUrl ?? `http://localhost:${config.console.port}`;
}

let cached: PikselConfig | undefined;
/** The process-wide configuration, loaded once. */
export function getConfig(): PikselConfig {
  cached ??= loadConfig();
  return cached;
}
