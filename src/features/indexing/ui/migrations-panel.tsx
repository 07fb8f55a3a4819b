"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Dialog } from "~/components/ui/dialog";
import { Badge, EmptyState, Loading, QueryError, type Tone } from "~/components/ui/primitives";
import { Ago } from "~/components/ui/time";
import { useTRPC } from "~/trpc/react";

const stateTone: Record<string, Tone> = { applied: "ok", ready: "info", blocked: "neutral", changed: "bad", unavailable: "bad" };
const stateLabel: Record<string, string> = { applied: "applied", ready: "ready to apply", blocked: "waiting", changed: "file changed", unavailable: "unreadable" };

/**
 * Index schema migrations x environments in promotion order. Admins open a dry run (the SQL it would
 * run and whether the promotion rule allows it now) and apply from there; the server checks again.
 */
export function MigrationsPanel({ isAdmin }: { isAdmin: boolean }) {
  const trpc = useTRPC();
  const migrations = useQuery({ ...trpc.indexing.migrations.queryOptions(), refetchInterval: 30_000 });
  const [target, setTarget] = useState<{ environment: string; name: string } | null>(null);
  return (
    <section className="panel" aria-labelledby="migrations-heading">
      <h2 id="migrations-heading">Index schema migrations</h2>
      <p className="muted">
        The console&apos;s own tables in each index database (schema <code>piksel</code>), applied dev → staging → prod: an environment takes a
        migration only once the one before it has.
      </p>
      {migrations.error && <QueryError error={migrations.error} />}
      {!migrations.data && !migrations.error && <Loading what="index migrations" />}
      {migrations.data &&
        (migrations.data.rows.length === 0 ? (
          <EmptyState title="No index migrations in this build">
            <p>
              Migrations are the ordered SQL files in <code>index-migrations/</code> that ship with the console; their state per environment appears here.
            </p>
          </EmptyState>
        ) : (
          <table className="data" aria-label="Index migrations per environment">
            <thead>
              <tr>
                <th scope="col">Migration</th>
                {migrations.data.environments.map((e) => (
                  <th scope="col" key={e}>
                    {e}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {migrations.data.rows.map((row) => (
                <tr key={row.name}>
                  <th scope="row">
                    <div className="mono">{row.name}</div>
                    <div className="muted mono" title={row.checksum}>
                      sha256 {row.checksum.slice(0, 12)}…
                    </div>
                  </th>
                  {migrations.data.environments.map((e) => {
                    const c = row.cells[e]!;
                    return (
                      <td key={e} data-testid={`migration-${e}-${row.name}`}>
                        <Badge tone={stateTone[c.state]}>{stateLabel[c.state]}</Badge>
                        {c.appliedAt && (
                          <div className="muted">
                            <Ago at={c.appliedAt} /> by {c.appliedBy}
                          </div>
                        )}
                        {c.reason && <div className="muted">{c.reason}</div>}
                        {isAdmin && c.state === "ready" && (
                          <button type="button" className="btn" style={{ marginTop: 4 }} onClick={() => setTarget({ environment: e, name: row.name })}>
                            Dry run…
                          </button>
                        )}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        ))}
      {migrations.data && migrations.data.unknown.length > 0 && (
        <div role="status" className="alert info">
          Applied by a newer build of the console, not known to this one:{" "}
          {migrations.data.unknown.map((u) => `${u.name} (${u.environment})`).join(", ")}.
        </div>
      )}
      {isAdmin && <DryRunDialog target={target} onClose={() => setTarget(null)} />}
    </section>
  );
}

function DryRunDialog({ target, onClose }: { target: { environment: string; name: string } | null; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const dry = useQuery({ ...trpc.indexing.migrationDryRun.queryOptions(target ?? { environment: "dev" }), enabled: !!target, staleTime: 0 });
  const apply = useMutation(
    trpc.indexing.applyMigration.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.indexing.migrations.queryKey() });
        void queryClient.invalidateQueries({ queryKey: trpc.indexing.overview.queryKey() });
        onClose();
      },
    }),
  );
  const migration = dry.data?.migrations[0];
  return (
    <Dialog open={!!target} title={target ? `Apply ${target.name} to ${target.environment}` : ""} onClose={onClose} wide>
      {dry.error && <QueryError error={dry.error} />}
      {dry.isPending && <Loading what="the SQL" />}
      {dry.data && migration && (
        <>
          <p className="muted">
            Dry run: this is the SQL that will run in the {dry.data.environment} index database, in one transaction, recorded with its checksum{" "}
            <code title={migration.checksum}>{migration.checksum.slice(0, 12)}…</code> and audited.
          </p>
          <pre className="diff" aria-label="SQL of the migration">
            {migration.sql}
          </pre>
          {dry.data.refusal && (
            <div role="alert" className="alert bad">
              {dry.data.refusal}
            </div>
          )}
          {apply.error && <QueryError error={apply.error} />}
          <div className="row">
            <span className="spacer" />
            <button type="button" className="btn" onClick={onClose}>
              Cancel
            </button>
            <button type="button" className="btn primary" disabled={!!dry.data.refusal || apply.isPending} onClick={() => target && apply.mutate(target)}>
              {apply.isPending ? "Applying…" : `Apply to ${dry.data.environment}`}
            </button>
          </div>
        </>
      )}
    </Dialog>
  );
}
