"use client";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Dialog } from "~/components/ui/dialog";
import { QueryError } from "~/components/ui/primitives";
import { useTRPC } from "~/trpc/react";
import { startRunInput } from "../indexing.schema";
import type { EnvironmentIndex } from "../server/indexing.service";

/**
 * Starts an indexer run for one environment. The fields start at the environment's configured scope;
 * a changed field overrides it for this run only. The server judges the values (and refuses a second
 * run of the environment).
 */
export function RunDialog({ env, onClose }: { env: EnvironmentIndex | null; onClose: () => void }) {
  return (
    <Dialog open={!!env} title={env ? `Run indexing in ${env.label ?? env.environment}` : ""} onClose={onClose}>
      {env && <RunForm key={env.environment} env={env} onClose={onClose} />}
    </Dialog>
  );
}

function RunForm({ env, onClose }: { env: EnvironmentIndex; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [bbox, setBbox] = useState(env.scope.bbox.join(", "));
  const [datetime, setDatetime] = useState(env.scope.datetime);
  const [collections, setCollections] = useState(env.scope.collections.join(", "));
  const [limitPages, setLimitPages] = useState("");
  const [restart, setRestart] = useState(false);
  const [invalid, setInvalid] = useState<string | null>(null);
  const start = useMutation(
    trpc.indexing.startRun.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries({ queryKey: trpc.indexing.runs.queryKey() });
        onClose();
      },
    }),
  );

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const numbers = bbox.split(",").map((p) => (p.trim() === "" ? NaN : Number(p)));
    const list = collections.split(",").map((c) => c.trim()).filter(Boolean);
    const same = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((v, i) => v === b[i]);
    // Only what differs from the configured scope is sent: the run record shows the scope either way.
    const input = startRunInput.safeParse({
      environment: env.environment,
      ...(!same(numbers, env.scope.bbox) && { bbox: numbers }),
      ...(datetime !== env.scope.datetime && { datetime }),
      ...(!same(list, env.scope.collections) && { collections: list }),
      ...(limitPages !== "" && { limitPages: Number(limitPages) }),
      restart,
    });
    if (!input.success) {
      const issue = input.error.issues[0]!;
      setInvalid(`${String(issue.path[0] ?? "input")}: ${issue.message}`);
      return;
    }
    setInvalid(null);
    start.mutate(input.data);
  };

  return (
    <form onSubmit={submit}>
      <p className="muted">
        Searches <code>{env.catalog}</code> and adds what is new or changed to the {env.environment} index. A run of the same scope that stopped
        early is continued unless you start over.
      </p>
      <div className="field">
        <label htmlFor="run-bbox">Bounding box (west, south, east, north in degrees)</label>
        <input id="run-bbox" value={bbox} onChange={(e) => setBbox(e.target.value)} required />
      </div>
      <div className="field">
        <label htmlFor="run-datetime">Time range (RFC 3339 interval; .. leaves an end open)</label>
        <input id="run-datetime" value={datetime} onChange={(e) => setDatetime(e.target.value)} required />
      </div>
      <div className="field">
        <label htmlFor="run-collections">Collections (comma-separated)</label>
        <input id="run-collections" value={collections} onChange={(e) => setCollections(e.target.value)} required />
      </div>
      <div className="field">
        <label htmlFor="run-limit">Stop after this many pages (optional; the next run continues)</label>
        <input id="run-limit" type="number" min={1} value={limitPages} onChange={(e) => setLimitPages(e.target.value)} />
      </div>
      <div className="field">
        <label className="row" style={{ fontWeight: 400 }}>
          <input type="checkbox" checked={restart} onChange={(e) => setRestart(e.target.checked)} /> Start the search over instead of continuing an
          unfinished run
        </label>
      </div>
      {invalid && (
        <div role="alert" className="alert bad">
          {invalid}
        </div>
      )}
      {start.error && <QueryError error={start.error} />}
      <div className="row">
        <span className="spacer" />
        <button type="button" className="btn" onClick={onClose}>
          Cancel
        </button>
        <button type="submit" className="btn primary" disabled={start.isPending}>
          {start.isPending ? "Starting…" : "Start run"}
        </button>
      </div>
    </form>
  );
}
