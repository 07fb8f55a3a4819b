"use client";
import { useQuery } from "@tanstack/react-query";
import { EmptyState, Loading, QueryError } from "~/components/ui/primitives";
import { useTRPC } from "~/trpc/react";

/** Each environment's indexing scope (bbox and time) beside what its index holds. */
export function CoverageOverview() {
  const trpc = useTRPC();
  const environments = useQuery(trpc.environments.list.queryOptions());
  const index = useQuery(trpc.indexing.overview.queryOptions());
  if (environments.error) return <QueryError error={environments.error} />;
  if (!environments.data) return <Loading what="environments" />;
  return (
    <section className="panel" aria-labelledby="scopes-heading">
      <h2 id="scopes-heading">Scopes</h2>
      <table className="data">
        <thead>
          <tr>
            <th scope="col">Environment</th>
            <th scope="col">Area (W, S, E, N)</th>
            <th scope="col">Time</th>
            <th scope="col">Datasets indexed</th>
          </tr>
        </thead>
        <tbody>
          {environments.data.map((e) => {
            const products = index.data?.find((i) => i.environment === e.name)?.products;
            return (
              <tr key={e.name}>
                <td>{e.label}</td>
                <td className="mono">{e.scope.bbox.join(", ")}</td>
                <td className="mono">{e.scope.datetime}</td>
                <td>{products ? products.reduce((n, p) => n + p.datasets, 0).toLocaleString() : "…"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {index.data?.every((i) => i.products.length === 0) && (
        <div style={{ marginTop: 12 }}>
          <EmptyState title="No coverage yet">
            <p>Cells coloured by dataset count and a time histogram appear once an environment&apos;s index holds datasets.</p>
          </EmptyState>
        </div>
      )}
    </section>
  );
}
