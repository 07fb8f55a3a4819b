"use client";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Badge, EmptyState, Loading, QueryError } from "~/components/ui/primitives";
import { Ago, Digest } from "~/components/ui/time";
import { useTRPC } from "~/trpc/react";
import { requestStates, type RequestStateName } from "../requests.schema";
import { requestTone } from "./request-view";

/** My requests / all requests, filtered by environment and state; the filters live in the URL so views can be shared. */
export function RequestsList({ canRequest }: { canRequest: boolean }) {
  const trpc = useTRPC();
  const router = useRouter();
  const pathname = usePathname();
  const params = useSearchParams();
  const scope = params.get("scope") === "mine" ? "mine" : "all";
  const environment = params.get("environment") ?? undefined;
  const stateParam = params.get("state");
  const state = requestStates.includes(stateParam as RequestStateName) ? (stateParam as RequestStateName) : undefined;
  const environments = useQuery(trpc.environments.list.queryOptions());
  const list = useInfiniteQuery({
    ...trpc.requests.list.infiniteQueryOptions({ scope, environment, state, limit: 50 }, { getNextPageParam: (last) => last.nextCursor }),
    refetchInterval: 3000,
  });
  const setParam = (key: string, value: string | undefined) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    router.replace(`${pathname}?${next.toString()}`);
  };
  const requests = list.data?.pages.flatMap((p) => p.requests) ?? [];

  return (
    <section className="panel" aria-labelledby="requests-heading">
      <h2 id="requests-heading" className="sr-only">
        Requests
      </h2>
      <nav className="tabs" aria-label="Whose requests">
        <Link href={`${pathname}?${new URLSearchParams({ ...Object.fromEntries(params), scope: "all" })}`} aria-current={scope === "all" ? "page" : undefined}>
          All requests
        </Link>
        <Link href={`${pathname}?${new URLSearchParams({ ...Object.fromEntries(params), scope: "mine" })}`} aria-current={scope === "mine" ? "page" : undefined}>
          My requests
        </Link>
      </nav>
      <div className="filters">
        <div>
          <label htmlFor="filter-environment">Environment</label>
          <select id="filter-environment" value={environment ?? ""} onChange={(e) => setParam("environment", e.target.value || undefined)}>
            <option value="">All</option>
            {environments.data?.map((e) => (
              <option key={e.name} value={e.name}>
                {e.label}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="filter-state">State</label>
          <select id="filter-state" value={state ?? ""} onChange={(e) => setParam("state", e.target.value || undefined)}>
            <option value="">All</option>
            {requestStates.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
      </div>
      {list.error ? (
        <QueryError error={list.error} />
      ) : !list.data ? (
        <Loading what="requests" />
      ) : requests.length === 0 ? (
        <EmptyState title={environment || state || scope === "mine" ? "No request matches these filters" : "No product requests yet"}>
          <p>{canRequest ? <>Draw an area of interest, pick an environment and a year, and see the plan before submitting: <Link href="/requests/new">New request</Link>.</> : "Requesters draw an area of interest and submit it; their requests are listed here."}</p>
        </EmptyState>
      ) : (
        <>
          <table className="data" aria-label="Requests">
            <thead>
              <tr>
                <th scope="col">Request</th>
                <th scope="col">Environment</th>
                <th scope="col">Period</th>
                <th scope="col">State</th>
                <th scope="col">Tiles</th>
                <th scope="col">Image</th>
                <th scope="col">Requested</th>
              </tr>
            </thead>
            <tbody>
              {requests.map((r) => (
                <tr key={r.id}>
                  <th scope="row">
                    <Link href={`/requests/${r.id}`}>{r.title ?? r.id}</Link>
                    {r.title && <div className="muted mono">{r.id}</div>}
                  </th>
                  <td>{r.environment}</td>
                  <td className="mono">{r.period}</td>
                  <td>
                    <Badge tone={requestTone[r.state]}>{r.state}</Badge>
                  </td>
                  <td>
                    {r.succeeded}/{r.tasks}
                    {r.failed > 0 && <span style={{ color: "var(--bad)" }}> · {r.failed} failed</span>}
                  </td>
                  <td>
                    {r.tag && <code>{r.tag}</code>} <Digest digest={r.digest} />
                  </td>
                  <td>
                    {r.requestedBy.name} <Ago at={r.requestedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.hasNextPage && (
            <button type="button" className="btn" style={{ marginTop: 8 }} disabled={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
              Older requests
            </button>
          )}
        </>
      )}
    </section>
  );
}
