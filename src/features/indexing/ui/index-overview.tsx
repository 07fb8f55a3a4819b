"use client";
import { useQuery } from "@tanstack/react-query";
import { Badge, EmptyState, Loading, QueryError } from "~/components/ui/primitives";
import { useTRPC } from "~/trpc/react";

/** Per environment: the ODC index's reachability and its products with dataset counts. */
export function IndexOverview() {
  const trpc = useTRPC();
  const overview = useQuery({ ...trpc.indexing.overview.queryOptions(), refetchInterval: 15_000 });
  if (overview.error) return <QueryError error={overview.error} />;
  if (!overview.data) return <Loading what="index state" />;
  return (
    <div className="grid grid-3">
      {overview.data.map((env) => (
        <section key={env.environment} className="panel" aria-label={`Index of ${env.environment}`}>
          <div className="row" style={{ marginBottom: 8 }}>
            <h2 style={{ margin: 0 }}>{env.environment}</h2>
            <span className="spacer" />
            <Badge tone={env.reachable ? "ok" : "bad"}>{env.reachable ? "reachable" : "unreachable"}</Badge>
          </div>
          <p className="muted">{env.detail}</p>
          {env.products.length === 0 ? (
            <EmptyState title="Nothing indexed yet">
              <p>
                Datasets appear here once STAC items are indexed into this environment: <code>piksel index --env {env.environment}</code>.
              </p>
            </EmptyState>
          ) : (
            <table className="data">
              <thead>
                <tr>
                  <th scope="col">Product</th>
                  <th scope="col">Datasets</th>
                </tr>
              </thead>
              <tbody>
                {env.products.map((p) => (
                  <tr key={p.product}>
                    <td className="mono">{p.product}</td>
                    <td>{p.datasets.toLocaleString()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      ))}
    </div>
  );
}
