"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Dialog } from "~/components/ui/dialog";
import { Loading, QueryError } from "~/components/ui/primitives";
import { Digest } from "~/components/ui/time";
import { useTRPC } from "~/trpc/react";
import { OverlayDiff } from "./overlay-diff";

export interface PromoteTarget {
  kind: "promote" | "rollback";
  environment: string;
  imageName: string;
  digest?: string;
}

/**
 * Shows exactly what a promotion or rollback would do — source, digest, unmet conditions, approvals
 * needed and the overlay diff — before anyone confirms.
 */
export function PromoteDialog({ target, isAdmin, onClose }: { target: PromoteTarget | null; isAdmin: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [note, setNote] = useState("");
  const [override, setOverride] = useState("");
  const preview = useQuery({ ...trpc.promotion.preview.queryOptions(target ?? { environment: "x", imageName: "x" }), enabled: !!target, staleTime: 0 });
  const onSuccess = () => {
    void queryClient.invalidateQueries({ queryKey: trpc.promotion.list.queryKey() });
    setNote("");
    setOverride("");
    onClose();
  };
  const request = useMutation(trpc.promotion.request.mutationOptions({ onSuccess }));
  const rollback = useMutation(trpc.promotion.rollback.mutationOptions({ onSuccess }));
  const mutation = target?.kind === "rollback" ? rollback : request;
  const p = preview.data;
  const title = target ? `${target.kind === "rollback" ? "Roll back" : "Promote"} ${target.imageName} ${target.kind === "rollback" ? "in" : "to"} ${target.environment}` : "";

  return (
    <Dialog open={!!target} title={title} onClose={onClose} wide>
      {preview.error && <QueryError error={preview.error} />}
      {preview.isPending && <Loading what="what would change" />}
      {p && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!target) return;
            if (target.kind === "rollback") rollback.mutate({ environment: p.environment, imageName: p.imageName, digest: p.digest, note, overrideFreezeReason: override || undefined });
            else request.mutate({ environment: p.environment, imageName: p.imageName, digest: p.digest, note: note || undefined, overrideFreezeReason: override || undefined });
          }}
        >
          <table className="data" style={{ marginBottom: 8 }}>
            <tbody>
              <tr>
                <th scope="row">From</th>
                <td>
                  {p.environment} runs {p.from.tag ?? "?"} <Digest digest={p.from.digest} />
                </td>
              </tr>
              <tr>
                <th scope="row">To</th>
                <td>
                  {p.tag ?? "?"} <Digest digest={p.digest} /> {p.sourceEnvironment && <span className="muted">as verified in {p.sourceEnvironment} at <code>{p.sourceCommit?.slice(0, 7)}</code></span>}
                </td>
              </tr>
              <tr>
                <th scope="row">Approvals</th>
                <td>{p.approvalsRequired === 0 ? "none needed: it is committed at once" : `${p.approvalsRequired} approver${p.approvalsRequired === 1 ? "" : "s"} other than you`}</td>
              </tr>
            </tbody>
          </table>
          {p.unmet.length > 0 && (
            <div role="alert" className="alert bad">
              <strong>This cannot be requested yet:</strong>
              <ul className="unmet">
                {p.unmet.map((u) => (
                  <li key={u}>{u}</li>
                ))}
              </ul>
            </div>
          )}
          {p.freeze && (
            <div role="alert" className="alert bad">
              {p.environment} is frozen until {new Date(p.freeze.to).toLocaleString()}: {p.freeze.reason}.{isAdmin ? " As an admin you may override it with a reason." : ""}
            </div>
          )}
          <h3>Overlay change</h3>
          <OverlayDiff diff={p.diff} />
          <div className="field">
            <label htmlFor="promotion-note">{target?.kind === "rollback" ? "Why roll back? (required)" : "Note (optional)"}</label>
            <textarea id="promotion-note" value={note} onChange={(e) => setNote(e.target.value)} />
          </div>
          {p.freeze && isAdmin && (
            <div className="field">
              <label htmlFor="freeze-override">Override the freeze: reason</label>
              <textarea id="freeze-override" value={override} onChange={(e) => setOverride(e.target.value)} />
            </div>
          )}
          {mutation.error && <QueryError error={mutation.error} />}
          <div className="row">
            <span className="spacer" />
            <button type="button" className="btn" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="btn primary" disabled={p.unmet.length > 0 || mutation.isPending || (target?.kind === "rollback" && note.trim().length < 3) || (!!p.freeze && !override)}>
              {target?.kind === "rollback" ? "Request rollback" : "Request promotion"}
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
