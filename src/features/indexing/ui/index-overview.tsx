"use client";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Badge, EmptyState, Loading, QueryError } from "~/components/ui/primitives";
import { Ago } from "~/components/ui/time";
import { useTRPC } from "~/trpc/react";
import type { EnvironmentIndex } from "../server/indexing.service";
import { bboxText, count, dayRange } from "./format";
import { MigrationsPanel } from "./migrations-panel";
import { RunDialog } from "./run-dialog";
import { RunsPanel } from "./runs-panel";

/**
 * The Indexing page: per environment its ODC index (products, counts, time range, latest dataset)
 * and scope, the indexer runs with live progress, and the index schema migrations.
 */
export function IndexOverview() {
  const trpc = useTRPC();
  const me = useQuery(trpc.auth.me.queryOptions());
  const isAdmin = me.data?.role === "admin";
  const overview = useQuery({ ...trpc.indexing.overview.queryOptions(), refetchInterval: 15_000 });
  // Every two seconds while a run is going (live progress), otherwise at the pace of the overview.
  const runs = useQuery({
    ...trpc.indexing.runs.queryOptions(),
    refetchInterval: (q) => (q.state.data?.some((e) => e.runs.some((r) => r.status === "running")) ? 2000 : 15_000),
  });
  const [runTarget, setRunTarget] = useState<EnvironmentIndex | null>(null);

  if (overview.error) return <QueryError error={overview.error} />;
  if (!overview.data) return <Loading what="index state" />;
  const running = new Set((runs.data ?? []).flatMap((e) => e.runs.filter((r) => r.status === "running" && r.alive).map(() => e.environment)));

  return (
    <>
      <div className="grid grid-3">
        {overview.data.map((env) => (
          <EnvironmentCard key={env.environment} env={env} isAdmin={isAdmin} running={running.has(env.environment)} onRun={() => setRunTarget(env)} />
        ))}
      </div>
      {runs.error && <QueryError error={runs.error} />}
      {runs.data ? <RunsPanel environments={runs.data} isAdmin={isAdmin} /> : !runs.error && <Loading what="indexer runs" />}
      <MigrationsPanel isAdmin={isAdmin} />
      {isAdmin && <RunDialog env={runTarget} onClose={() => setRunTarget(null)} />}
    </>
  );
}

function EnvironmentCard({ env, isAdmin, running, onRun }: { env: EnvironmentIndex; isAdmin: boolean; running: boolean; onRun: () => void }) {
  return (
    <section className="panel" aria-label={`Index of ${env.environment}`}>
      <div className="row" style={{ marginBottom: 8 }}>
        <h2 style={{ margin: 0 }}>{env.label ?? env.environment}</h2>
        <Badge tone={env.reachable ? "ok" : "bad"}>{env.reachable ? "reachable" : "unreachable"}</Badge>
        {running && <Badge tone="info">indexing</Badge>}
        <span className="spacer" />
        {isAdmin && (
          <button
            type="button"
            className="btn primary"
            onClick={onRun}
            disabled={!env.reachable || !env.runTables || running}
            title={!env.runTables ? "Apply index migration 0001_index_runs to this environment first" : running ? "A run is in progress" : undefined}
          >
            Run indexing
          </button>
        )}
      </div>
      {env.reachable ? (
        <p className="muted">{env.detail}</p>
      ) : (
        <div role="alert" className="alert bad">
          {env.detail}
        </div>
      )}
      <p className="muted">
        Scope: <span className="mono">{bboxText(env.scope.bbox)}</span>, <span className="mono">{env.scope.datetime}</span>, {env.scope.collections.join(", ")} from{" "}
        <code>{env.catalog}</code>
      </p>
      {env.reachable && !env.runTables && (
        <p className="muted">Indexer runs are recorded once index migration 0001_index_runs is applied here (Index schema migrations, below).</p>
      )}
      {env.products.length === 0 || env.products.every((p) => p.datasets === 0) ? (
        <EmptyState title="Nothing indexed yet">
          <p>
            Products appear here with their dataset counts, time range and latest dataset once STAC items are indexed into {env.environment} within its
            scope: {isAdmin ? "“Run indexing” above, or " : "an admin runs indexing here, or "}
            <code>piksel index --env {env.environment}</code>.
          </p>
        </EmptyState>
      ) : (
        <table className="data" aria-label={`Products in ${env.environment}`}>
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col">Datasets</th>
              <th scope="col">Acquired</th>
              <th scope="col">Latest dataset</th>
            </tr>
          </thead>
          <tbody>
            {env.products.map((p) => (
              <tr key={p.product}>
                <td className="mono">{p.product}</td>
                <td>{count(p.datasets)}</td>
                <td>{dayRange(p.from, p.to)}</td>
                <td>
                  {p.latest ? (
                    <>
                      <div className="mono" title={p.latest.id}>
                        {p.latest.label ?? p.latest.id}
                      </div>
                      <div className="muted">
                        {p.latest.regionCode && `${p.latest.regionCode} · `}
                        {p.latest.time ? new Date(p.latest.time).toISOString().slice(0, 16).replace("T", " ") : "no time"} UTC · indexed <Ago at={p.latest.added} />
                      </div>
                    </>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
