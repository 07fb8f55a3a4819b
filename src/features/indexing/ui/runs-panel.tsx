"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Fragment, useState } from "react";
import { Badge, EmptyState, Loading, QueryError, type Tone } from "~/components/ui/primitives";
import { Ago } from "~/components/ui/time";
import { useTRPC } from "~/trpc/react";
import type { EnvironmentRuns, RunView } from "../server/indexing.service";
import { bboxText, count, duration } from "./format";

const statusTone: Record<RunView["status"], Tone> = { running: "info", completed: "ok", cancelled: "warn", failed: "bad", interrupted: "warn" };

/** Indexer runs of every environment, newest first: live progress of running ones, outcomes and failure reasons. */
export function RunsPanel({ environments, isAdmin }: { environments: EnvironmentRuns[]; isAdmin: boolean }) {
  const [open, setOpen] = useState<string | null>(null);
  const rows = environments.flatMap((e) => e.runs).sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime());
  const unavailable = environments.filter((e) => e.unavailable);
  return (
    <section className="panel" aria-labelledby="runs-heading">
      <h2 id="runs-heading">Indexer runs</h2>
      {unavailable.map((e) => (
        <p key={e.environment} className="muted">
          {e.environment}: {e.unavailable}
        </p>
      ))}
      {rows.length === 0 ? (
        <EmptyState title="No indexer runs yet">
          <p>
            Each run appears here with its scope, what it added, updated, skipped and could not index, and live progress while it runs. Start one with
            “Run indexing” above (admins), with <code>piksel index --env &lt;env&gt;</code>, or let the scheduled CronJob (<code>deploy/cronjob-index.yaml</code>) do it.
          </p>
        </EmptyState>
      ) : (
        <table className="data" aria-label="Indexer runs">
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Started</th>
              <th scope="col">Scope</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Added</th>
              <th scope="col">Updated</th>
              <th scope="col">Skipped</th>
              <th scope="col">Archived</th>
              <th scope="col">Failed</th>
              {isAdmin && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const key = `${r.environment}/${r.id}`;
              return (
                <Fragment key={key}>
                  <RunRow run={r} isAdmin={isAdmin} expanded={open === key} onToggle={() => setOpen(open === key ? null : key)} />
                  {open === key && (
                    <tr>
                      <td colSpan={isAdmin ? 11 : 10}>
                        <FailureList environment={r.environment} runId={r.id} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function RunRow({ run: r, isAdmin, expanded, onToggle }: { run: RunView; isAdmin: boolean; expanded: boolean; onToggle: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const cancel = useMutation(trpc.indexing.cancelRun.mutationOptions({ onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.indexing.runs.queryKey() }) }));
  const done = r.itemsBefore + r.items;
  const running = r.status === "running";
  return (
    <tr>
      <th scope="row">
        <div>
          {r.environment} <span className="muted">#{r.id}</span>
        </div>
        <div className="muted" style={{ fontWeight: 400 }}>
          {r.trigger} · {r.startedBy}
        </div>
      </th>
      <td>
        <Ago at={r.startedAt} />
        {r.finishedAt && <div className="muted">took {duration((r.finishedAt.getTime() - r.startedAt.getTime()) / 1000)}</div>}
      </td>
      <td>
        <div className="mono" title={r.catalog}>
          {bboxText(r.scope.bbox)}
        </div>
        <div className="mono">{r.scope.datetime}</div>
        <div className="muted">
          {r.scope.collections.join(", ")}
          {r.limitPages !== null && ` · at most ${count(r.limitPages)} pages`}
        </div>
      </td>
      <td>
        <div className="row">
          <Badge tone={running && !r.alive ? "warn" : statusTone[r.status]}>{running && !r.alive ? "stalled" : r.status}</Badge>
          {r.cancelRequested && running && <Badge tone="warn">cancelling</Badge>}
        </div>
        {running && !r.alive && <div className="muted">no process holds this run any more; the next run marks it interrupted and continues it</div>}
        {r.resumedFrom !== null && <div className="muted">continues #{r.resumedFrom}</div>}
        {r.resumable && !running && <div className="muted">unfinished: the next run of this scope continues it</div>}
        {r.error && (
          <div role="alert" className="alert bad" style={{ margin: "4px 0 0", padding: "4px 8px" }}>
            {r.error}
          </div>
        )}
      </td>
      <td>
        {r.numberMatched !== null && r.numberMatched > 0 ? (
          <>
            <progress value={Math.min(done, r.numberMatched)} max={r.numberMatched} aria-label={`Run ${r.id} progress`} style={{ width: 140 }} />
            <div>
              {count(done)} / {count(r.numberMatched)} items
            </div>
          </>
        ) : (
          <div>{count(done)} items</div>
        )}
        <div className="muted">
          {count(r.pages)} pages · {count(Math.round(r.itemsPerSecond))}/s{r.retries > 0 && ` · ${count(r.retries)} retried`}
          {running && r.etaSeconds !== null && ` · about ${duration(r.etaSeconds)} left`}
        </div>
        {running && (
          <div className="muted">
            last batch <Ago at={r.heartbeatAt} />
          </div>
        )}
      </td>
      <td>{count(r.added)}</td>
      <td>{count(r.updated)}</td>
      <td>{count(r.skipped)}</td>
      <td>{count(r.archived)}</td>
      <td>
        {r.failed > 0 || r.failures.length > 0 ? (
          <>
            <Badge tone="bad">{count(r.failed)}</Badge>
            <ul className="unmet" style={{ color: "var(--ink-2)" }}>
              {r.failures.map((f) => (
                <li key={f.problem} title={f.example}>
                  {count(f.count)} × {f.problem}
                </li>
              ))}
            </ul>
            <button type="button" className="btn" aria-expanded={expanded} onClick={onToggle}>
              {expanded ? "Hide reasons" : "Show reasons"}
            </button>
          </>
        ) : (
          "0"
        )}
      </td>
      {isAdmin && (
        <td>
          {running && !r.cancelRequested && (
            <button type="button" className="btn" disabled={cancel.isPending} onClick={() => cancel.mutate({ environment: r.environment, runId: r.id })}>
              Cancel
            </button>
          )}
          {cancel.error && <QueryError error={cancel.error} />}
        </td>
      )}
    </tr>
  );
}

/** The items one run could not index, with the reasons, a page at a time. */
function FailureList({ environment, runId }: { environment: string; runId: number }) {
  const trpc = useTRPC();
  const [after, setAfter] = useState<number | undefined>(undefined);
  const failures = useQuery(trpc.indexing.failures.queryOptions({ environment, runId, limit: 100, after }));
  if (failures.error) return <QueryError error={failures.error} />;
  if (!failures.data) return <Loading what="failure reasons" />;
  if (failures.data.length === 0) return <p className="muted">No failed items recorded{after ? " after these" : ""}.</p>;
  const last = failures.data[failures.data.length - 1]!;
  return (
    <>
      <table className="data" aria-label={`Failures of run ${runId}`}>
        <thead>
          <tr>
            <th scope="col">Page</th>
            <th scope="col">Item</th>
            <th scope="col">Problem</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {failures.data.map((f) => (
            <tr key={f.id}>
              <td>{f.page ?? "—"}</td>
              <td className="mono">{f.itemId ?? <span className="muted">(no id)</span>}</td>
              <td>
                <Badge tone="bad">{f.problem}</Badge>
              </td>
              <td>{f.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        {after !== undefined && (
          <button type="button" className="btn" onClick={() => setAfter(undefined)}>
            First page
          </button>
        )}
        {failures.data.length === 100 && (
          <button type="button" className="btn" onClick={() => setAfter(last.id)}>
            Next 100
          </button>
        )}
      </div>
    </>
  );
}
