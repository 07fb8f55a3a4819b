import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { appDatabaseUrl, ConfigError, indexDatabaseUrl, loadConfig, needsEmbeddedPostgres } from "./config";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-config-"));
function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
}
function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("the embedded default", () => {
  it("needs no configuration and gives three environments in promotion order on local drivers", () => {
    const c = loadConfig({}, tmp);
    expect(c.environments.map((e) => e.name)).toEqual(["dev", "staging", "prod"]);
    expect(c.environments.every((e) => e.cluster.driver === "local" && e.registry.driver === "layout" && e.objects.driver === "local")).toBe(true);
    expect(c.environments.find((e) => e.name === "prod")!.policy.approvals).toBe(2);
    expect(needsEmbeddedPostgres(c)).toBe(true);
    expect(appDatabaseUrl(c)).toBe("postgres://postgres:postgres@127.0.0.1:54329/piksel");
    expect(indexDatabaseUrl(c, c.environments[1]!)).toMatch(/\/odc_staging$/);
  });

  it("takes overrides from the environment", () => {
    const c = loadConfig({ PORT: "3999", PIKSEL_EMBEDDED_PG_PORT: "6000", DATABASE_URL: "postgres://u:p@db.internal:5432/piksel", PIKSEL_DATA_DIR: "/var/piksel" }, tmp);
    expect(c.console.port).toBe(3999);
    expect(c.dataDir).toBe("/var/piksel");
    expect(appDatabaseUrl(c)).toBe("postgres://u:p@db.internal:5432/piksel");
    expect(indexDatabaseUrl(c, c.environments[0]!)).toBe("postgres://postgres:postgres@127.0.0.1:6000/odc_dev");
  });
});

describe("a broken configuration stops start-up with one line naming the key", () => {
  it("a wrong driver name", () => {
    const f = file("bad-driver.yaml", "environments:\n  - name: dev\n    gitops: { remote: /r.git, overlayPath: overlays/dev }\n    registry: { driver: docker, path: /x, repository: r }\n    cluster: { driver: local, stateDir: /s }\n    objects: { driver: local, root: /o, bucket: piksel-dev-data }\n    catalog: { url: 'https://earth-search.aws.element84.com/v1' }\n    scope: { bbox: [106, -7, 107, -6], datetime: 2024-01-01/2024-12-31 }\n");
    const err = errorOf(() => loadConfig({ PIKSEL_CONFIG: f }, tmp));
    expect(err.message).toMatch(/^Invalid configuration \(PIKSEL_CONFIG=.*bad-driver\.yaml\): environments\.0\.registry\.driver: /);
    expect(err.message.split("\n")).toHaveLength(1);
  });

  it("a bbox with west east of east", () => {
    const f = file("bad-bbox.yaml", "environments:\n  - name: dev\n    gitops: { remote: /r.git, overlayPath: overlays/dev }\n    registry: { driver: layout, path: /x, repository: r }\n    cluster: { driver: local, stateDir: /s }\n    objects: { driver: local, root: /o, bucket: piksel-dev-data }\n    catalog: { url: 'https://earth-search.aws.element84.com/v1' }\n    scope: { bbox: [108, -7, 107, -6], datetime: 2024-01-01/2024-12-31 }\n");
    expect(errorOf(() => loadConfig({ PIKSEL_CONFIG: f }, tmp)).message).toContain("environments.0.scope.bbox: west < east and south < north");
  });

  it("a port that is not a number", () => {
    expect(errorOf(() => loadConfig({ PORT: "eighty" }, tmp)).message).toBe('Invalid configuration (environment): PORT: expected a whole number, got "eighty"');
  });

  it("a database URL that is not PostgreSQL", () => {
    expect(errorOf(() => loadConfig({ DATABASE_URL: "mysql://x@y/z" }, tmp)).message).toMatch(/database\.url: a PostgreSQL URL such as postgres:\/\//);
  });

  it("a short auth secret", () => {
    expect(errorOf(() => loadConfig({ PIKSEL_AUTH_SECRET: "short" }, tmp)).message).toContain("auth.secret: at least 32 characters");
  });

  it("oidc mode without its settings", () => {
    const f = file("oidc.yaml", "auth: { mode: oidc }\n");
    expect(errorOf(() => loadConfig({ PIKSEL_CONFIG: f }, tmp)).message).toContain("auth.oidc: required when auth.mode is oidc");
  });

  it("a missing file and a file that is not YAML", () => {
    expect(errorOf(() => loadConfig({ PIKSEL_CONFIG: path.join(tmp, "nope.yaml") }, tmp)).message).toMatch(/Cannot read configuration file PIKSEL_CONFIG=.*nope\.yaml: ENOENT/);
    const f = file("broken.yaml", "environments: [\n");
    expect(errorOf(() => loadConfig({ PIKSEL_CONFIG: f }, tmp)).message).toMatch(/is not valid YAML\/JSON/);
  });

  it("two environments with the same name", () => {
    const env = "  - name: dev\n    gitops: { remote: /r.git, overlayPath: overlays/dev }\n    registry: { driver: layout, path: /x, repository: r }\n    cluster: { driver: local, stateDir: /s }\n    objects: { driver: local, root: /o, bucket: piksel-dev-data }\n    catalog: { url: 'https://earth-search.aws.element84.com/v1' }\n    scope: { bbox: [106, -7, 107, -6], datetime: 2024-01-01/2024-12-31 }\n";
    const f = file("dupe.yaml", `environments:\n${env}${env}`);
    expect(errorOf(() => loadConfig({ PIKSEL_CONFIG: f }, tmp)).message).toContain('environments.1.name: "dev" is used twice');
  });
});
