import { Command } from "commander";
import { createLocalUser } from "~/features/auth/server/demo-users";
import { roles, type Role } from "~/lib/roles";
import { appDatabaseUrl, ConfigError, loadConfig, type PikselConfig } from "~/server/config";
import { createDb } from "~/server/db";
import { createMigration } from "~/server/db/migrate";
import { createLogger, type Logger } from "~/server/logger";
import { action } from "./action";
import { migrationsDir, schemaPath } from "./paths";
import { ensureEmbeddedDatabases, migrateAppDatabase } from "./platform";
import { registerIndexCommands } from "./index-command";
import { start } from "./start";
import { registerWorkerCommands } from "./worker-command";

// Synchronous: a CLI logs little, and its lines must not wait for libuv's thread pool (logger.ts).
const log: Logger = createLogger({ pretty: Boolean(process.stdout.isTTY) && !process.env.PIKSEL_LOG_JSON, level: process.env.PIKSEL_LOG_LEVEL, sync: true });

/** Loads the configuration or exits with its one-line message (exit code 2: a usage problem). */
function config(): PikselConfig {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** Runs fn with the embedded PostgreSQL up (joined or started) when the configuration needs it. */
async function withDatabases(c: PikselConfig, fn: () => Promise<void>) {
  const pg = await ensureEmbeddedDatabases(c, log);
  try {
    await fn();
  } finally {
    if (pg?.startedHere) await pg.stop();
  }
}

const program = new Command("piksel").description("Piksel Console: the web console, the embedded platform and the geomedian worker").showHelpAfterError();

program
  .command("start")
  .description("start the console (and, with the embedded default, the whole platform on this machine)")
  .option("--reset", "remove the embedded default's data first and start clean", false)
  .action(action(async (opts: { reset: boolean }) => start(config(), log, opts)));

const db = program.command("db").description("the app database");
db.command("migrate")
  .description("apply pending migrations of prisma/migrations (no native Prisma engine needed)")
  .action(action(async () => {
    const c = config();
    await withDatabases(c, async () => void (await migrateAppDatabase(c, log)));
  }));
db.command("create-migration")
  .description("(developers) write a migration from the last migration's schema snapshot to prisma/schema.prisma")
  .argument("<name>", "snake_case name of the migration")
  .action(action(async (name: string) => {
    if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`migration name "${name}": use lower-case letters, digits and _`);
    const c = config();
    await withDatabases(c, async () => {
      const dir = await createMigration({ url: appDatabaseUrl(c), schemaPath: schemaPath(), migrationsDir: migrationsDir(), name });
      process.stdout.write(dir ? `Created ${dir}/migration.sql\n` : "No schema changes.\n");
    });
  }));

const users = program.command("users").description("local accounts (auth.mode local)");
users
  .command("add")
  .description("create a local account with a hashed password")
  .requiredOption("--email <email>")
  .requiredOption("--name <name>")
  .requiredOption("--role <role>", roles.join(" | "))
  .requiredOption("--password <password>", "at least 8 characters")
  .action(action(async (o: { email: string; name: string; role: string; password: string }) => {
    if (!roles.includes(o.role as Role)) throw new Error(`--role ${o.role}: expected one of ${roles.join(", ")}`);
    if (o.password.length < 8) throw new Error("--password: at least 8 characters");
    const c = config();
    await withDatabases(c, async () => {
      const client = createDb(appDatabaseUrl(c));
      const user = await createLocalUser(client, { email: o.email, name: o.name, role: o.role as Role, password: o.password });
      await client.$disconnect();
      process.stdout.write(`User ${user.email} (${user.role}) is ready.\n`);
    });
  }));

registerIndexCommands(program, { action, config, withDatabases, log });
registerWorkerCommands(program, { action, config, withDatabases, log });

await program.parseAsync(process.argv);
