"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Badge, EmptyState, Loading, QueryError, type Tone } from "~/components/ui/primitives";
import { Ago, Digest } from "~/components/ui/time";
import { hasRole, type Role } from "~/lib/roles";
import { useTRPC } from "~/trpc/react";
import { promotionSteps } from "../promotion.schema";
import { PromoteDialog, type PromoteTarget } from "./promote-dialog";

const stateTone: Record<string, Tone> = { pending: "warn", approved: "info", committed: "info", reconciling: "info", deployed: "ok", failed: "bad", rejected: "bad" };
const stepIndex: Record<string, number> = { pending: 0, approved: 1, committed: 2, reconciling: 3, deployed: 4, failed: -1, rejected: -1 };

function Steps({ state, committed }: { state: string; committed: boolean }) {
  const at = stepIndex[state] ?? 0;
  const failedAt = state === "rejected" ? 1 : committed ? 3 : 2;
  return (
    <ol className="steps" aria-label="Steps">
      {promotionSteps.map((s, i) => {
        const cls = at < 0 ? (i < failedAt ? "done" : i === failedAt ? "failed" : "") : i < at || (i === at && state === "deployed") ? "done" : i === at ? "current" : "";
        return (
          <li key={s} className={cls} aria-current={cls === "current" ? "step" : undefined}>
            {i === failedAt && at < 0 ? state : s}
          </li>
        );
      })}
    </ol>
  );
}

/** The promotions page: promote and roll back, pending approvals, promotions in flight with live steps, history. */
export function PromotionsBoard() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.auth.me.queryOptions());
  const matrix = useQuery({ ...trpc.environments.matrix.queryOptions(), refetchInterval: 3000 });
  const promotions = useQuery({ ...trpc.promotion.list.queryOptions({ limit: 50 }), refetchInterval: 2000 });
  const [target, setTarget] = useState<PromoteTarget | null>(null);
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.promotion.list.queryKey() });
  const approve = useMutation(trpc.promotion.approve.mutationOptions({ onSuccess: invalidate }));
  const reject = useMutation(trpc.promotion.reject.mutationOptions({ onSuccess: invalidate }));
  const role = (me.data?.role ?? "viewer") as Role;

  if (promotions.error) return <QueryError error={promotions.error} />;
  if (!promotions.data || !matrix.data) return <Loading what="promotions" />;
  const inFlight = promotions.data.filter((p) => ["approved", "committed", "reconciling"].includes(p.state));
  const pending = promotions.data.filter((p) => p.state === "pending");
  const history = promotions.data.filter((p) => ["deployed", "failed", "rejected"].includes(p.state));
  const envs = matrix.data.environments;

  return (
    <>
      <section className="panel" aria-labelledby="promote-heading">
        <h2 id="promote-heading">Promotion path</h2>
        <table className="data">
          <thead>
            <tr>
              <th scope="col">Image</th>
              {envs.map((e) => (
                <th key={e.name} scope="col">
                  {e.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {matrix.data.rows.map((row) => (
              <tr key={row.imageName}>
                <th scope="row" className="mono">
                  {row.imageName}
                </th>
                {envs.map((e, i) => {
                  const cell = row.cells[e.name];
                  const prev = i > 0 ? row.cells[envs[i - 1]!.name] : null;
                  const canPromote = prev?.desired.digest && prev.desired.digest !== cell?.desired.digest;
                  return (
                    <td key={e.name}>
                      <div>
                        {cell?.desired.tag ?? "—"} <Digest digest={cell?.desired.digest} />
                      </div>
                      <div className="row" style={{ marginTop: 6 }}>
                        {canPromote && hasRole(role, "requester") && (
                          <button type="button" className="btn" onClick={() => setTarget({ kind: "promote", environment: e.name, imageName: row.imageName, digest: prev!.desired.digest! })}>
                            Promote {prev!.desired.tag} to {e.label}…
                          </button>
                        )}
                        {cell && hasRole(role, "approver") && <RollbackButton environment={e.name} label={e.label} imageName={row.imageName} current={cell.desired.digest} onPick={setTarget} />}
                      </div>
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section className="panel" aria-labelledby="pending-heading">
        <h2 id="pending-heading">Waiting for approval</h2>
        {(approve.error || reject.error) && <QueryError error={(approve.error ?? reject.error)!} />}
        {pending.length === 0 ? (
          <p className="muted">Nothing waits for approval.</p>
        ) : (
          <ul style={{ listStyle: "none", padding: 0, margin: 0 }}>
            {pending.map((p) => (
              <li key={p.id} className="panel" aria-label={`Promotion ${p.id}`} style={{ boxShadow: "none" }}>
                <div className="row">
                  <strong>
                    {p.kind === "rollback" ? "Roll back" : "Promote"} {p.imageName}:{p.tag} to {p.environment}
                  </strong>
                  <Digest digest={p.digest} />
                  <span className="spacer" />
                  <Badge tone="warn">
                    {p.approvals.filter((a) => a.approved).length} of {p.approvalsRequired} approvals
                  </Badge>
                </div>
                <div className="muted">
                  requested by {p.requestedBy.email} <Ago at={p.requestedAt} /> · <code>{p.id}</code>
                  {p.note && <> · “{p.note}”</>}
                </div>
                {p.approvals.length > 0 && <div className="muted">approved by {p.approvals.map((a) => a.approver.email).join(", ")}</div>}
                {hasRole(role, "approver") && (
                  <div className="row" style={{ marginTop: 8 }}>
                    <button type="button" className="btn primary" disabled={approve.isPending} onClick={() => approve.mutate({ id: p.id })}>
                      Approve
                    </button>
                    <button type="button" className="btn" disabled={reject.isPending} onClick={() => reject.mutate({ id: p.id })}>
                      Reject
                    </button>
                    {p.requestedBy.email === me.data?.email && <span className="muted">You requested this; another approver must decide.</span>}
                  </div>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section className="panel" aria-labelledby="flight-heading">
        <h2 id="flight-heading">In progress</h2>
        {inFlight.length === 0 ? <p className="muted">No promotion is being applied.</p> : inFlight.map((p) => <PromotionRow key={p.id} p={p} />)}
      </section>

      <section className="panel" aria-labelledby="history-heading">
        <h2 id="history-heading">History</h2>
        {history.length === 0 ? (
          <EmptyState title="No promotions yet">
            <p>Every promotion and rollback, with its approvals, commit and outcome, is listed here.</p>
          </EmptyState>
        ) : (
          history.map((p) => <PromotionRow key={p.id} p={p} />)
        )}
      </section>
      <PromoteDialog target={target} isAdmin={role === "admin"} onClose={() => setTarget(null)} />
    </>
  );
}

type PromotionView = { id: string; kind: string; state: string; environment: string; imageName: string; tag: string; digest: string; fromDigest: string | null; gitCommit: string | null; requestedAt: Date; deployedAt: Date | null; failureReason: string | null; requestedBy: { email: string } };

function PromotionRow({ p }: { p: PromotionView }) {
  return (
    <div className="panel" aria-label={`Promotion ${p.id}`} style={{ boxShadow: "none" }}>
      <div className="row">
        <strong>
          {p.kind === "rollback" ? "Rollback" : "Promotion"} of {p.imageName}:{p.tag} to {p.environment}
        </strong>
        <Digest digest={p.digest} />
        <span className="spacer" />
        <Badge tone={stateTone[p.state]}>{p.state}</Badge>
      </div>
      <Steps state={p.state} committed={!!p.gitCommit} />
      <div className="muted">
        <code>{p.id}</code> · requested by {p.requestedBy.email} <Ago at={p.requestedAt} />
        {p.gitCommit && (
          <>
            {" "}
            · commit <code>{p.gitCommit.slice(0, 7)}</code>
          </>
        )}
        {p.deployedAt && (
          <>
            {" "}
            · deployed <Ago at={p.deployedAt} />
          </>
        )}
      </div>
      {p.failureReason && (
        <div role="alert" className="alert bad" style={{ marginTop: 6 }}>
          {p.failureReason}
        </div>
      )}
    </div>
  );
}

function RollbackButton({ environment, label, imageName, current, onPick }: { environment: string; label: string; imageName: string; current: string | null; onPick: (t: PromoteTarget) => void }) {
  const trpc = useTRPC();
  const candidates = useQuery(trpc.promotion.rollbackCandidates.queryOptions({ environment, imageName }));
  const options = (candidates.data ?? []).filter((c) => c.digest !== current);
  if (options.length === 0) return null;
  return (
    <select
      aria-label={`Roll back ${imageName} in ${label}`}
      value=""
      onChange={(e) => e.target.value && onPick({ kind: "rollback", environment, imageName, digest: e.target.value })}
    >
      <option value="">Roll back to…</option>
      {options.map((c) => (
        <option key={c.digest} value={c.digest}>
          {c.tag ?? "?"} {c.digest.slice(7, 19)} (last ran {new Date(c.lastSeenAt).toLocaleDateString()})
        </option>
      ))}
    </select>
  );
}
