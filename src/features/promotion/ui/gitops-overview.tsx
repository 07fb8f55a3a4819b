"use client";
import { useQuery } from "@tanstack/react-query";
import { Badge, EmptyState, Loading, QueryError } from "~/components/ui/primitives";
import { useTRPC } from "~/trpc/react";

/** The promotion path as git and the registry see it today, and the (empty) promotion history. */
export function GitopsOverview() {
  const trpc = useTRPC();
  const gitops = useQuery({ ...trpc.promotion.gitops.queryOptions(), refetchInterval: 15_000 });
  if (gitops.error) return <QueryError error={gitops.error} />;
  if (!gitops.data) return <Loading what="GitOps state" />;
  return (
    <>
      <section className="panel" aria-labelledby="path-heading">
        <h2 id="path-heading">Promotion path</h2>
        <table className="data">
          <thead>
            <tr>
              <th scope="col">Environment</th>
              <th scope="col">Overlay</th>
              <th scope="col">Branch head</th>
              <th scope="col">Images in registry</th>
            </tr>
          </thead>
          <tbody>
            {gitops.data.map((g) => (
              <tr key={g.environment}>
                <td>{g.environment}</td>
                <td className="mono">{g.overlayPath}</td>
                <td className="mono">{g.head ? `${g.branch} @ ${g.head.slice(0, 7)}` : <Badge tone="bad">no branch {g.branch}</Badge>}</td>
                <td>{g.tags ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {gitops.data.some((g) => g.problem) && (
          <div role="alert" className="alert bad" style={{ marginTop: 10 }}>
            {gitops.data.filter((g) => g.problem).map((g) => `${g.environment}: ${g.problem}`).join(" · ")}
          </div>
        )}
      </section>
      <section className="panel" aria-labelledby="history-heading">
        <h2 id="history-heading">Promotions</h2>
        <EmptyState title="No promotions yet">
          <p>
            Approvers promote a digest validated in staging to prod here. Pending approvals, promotions in progress with their live steps
            and the history will be listed in this place.
          </p>
        </EmptyState>
      </section>
    </>
  );
}
