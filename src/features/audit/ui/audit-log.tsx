"use client";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { EmptyState, Loading, QueryError } from "~/components/ui/primitives";
import { useTRPC } from "~/trpc/react";
import { auditActions } from "../audit.schema";

/** The append-only audit log, newest first, with filters and keyset paging. */
export function AuditLog() {
  const trpc = useTRPC();
  const [action, setAction] = useState("");
  const [environment, setEnvironment] = useState("");
  const [actor, setActor] = useState("");
  const environments = useQuery(trpc.environments.list.queryOptions());
  const filter = { action: action || undefined, environment: environment || undefined, actor: actor || undefined, limit: 50 };
  const events = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions(filter, { getNextPageParam: (last) => last.nextBefore ?? undefined, refetchInterval: 10_000 }),
  );
  const rows = events.data?.pages.flatMap((p) => p.events) ?? [];

  return (
    <section className="panel">
      <form className="filters" role="search" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label htmlFor="audit-action">Action</label>
          <select id="audit-action" value={action} onChange={(e) => setAction(e.target.value)}>
            <option value="">All actions</option>
            {auditActions.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="audit-env">Environment</label>
          <select id="audit-env" value={environment} onChange={(e) => setEnvironment(e.target.value)}>
            <option value="">All environments</option>
            {environments.data?.map((e) => (
              <option key={e.name} value={e.name}>
                {e.label}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="audit-actor">Actor</label>
          <input id="audit-actor" placeholder="e-mail contains…" value={actor} onChange={(e) => setActor(e.target.value)} />
        </div>
        <span className="spacer" />
        <a className="btn" href={`/api/audit/export?${new URLSearchParams({ format: "csv", ...(action && { action }), ...(environment && { environment }), ...(actor && { actor }) })}`} download>
          Export CSV
        </a>
        <a className="btn" href={`/api/audit/export?${new URLSearchParams({ format: "json", ...(action && { action }), ...(environment && { environment }), ...(actor && { actor }) })}`} download>
          Export JSON
        </a>
      </form>
      {events.error && <QueryError error={events.error} />}
      {events.isPending && <Loading what="audit events" />}
      {events.data && rows.length === 0 && (
        <EmptyState title="No matching audit events">
          <p>Every sign-in, role change, promotion step, index run and product request is recorded here with who, when and where.</p>
        </EmptyState>
      )}
      {rows.length > 0 && (
        <table className="data" aria-label="Audit events">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Environment</th>
              <th scope="col">Subject</th>
              <th scope="col">Digest</th>
              <th scope="col">Commit</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.id}>
                <td title={e.at.toISOString()}>{e.at.toLocaleString()}</td>
                <td>{e.actorEmail}</td>
                <td>
                  <span className="badge">{e.action}</span>
                </td>
                <td>{e.environment ?? "—"}</td>
                <td>
                  {e.subjectType} <span className="mono">{e.subjectId}</span>
                </td>
                <td className="mono">{e.toDigest ? `${e.fromDigest ? `${e.fromDigest.slice(7, 19)} → ` : ""}${e.toDigest.slice(7, 19)}` : "—"}</td>
                <td className="mono">{e.gitCommit?.slice(0, 7) ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {events.hasNextPage && (
        <button type="button" className="btn" style={{ marginTop: 12 }} onClick={() => events.fetchNextPage()} disabled={events.isFetchingNextPage}>
          Older events
        </button>
      )}
    </section>
  );
}
