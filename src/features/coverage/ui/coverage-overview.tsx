"use client";
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { bboxToPolygon, featureCollection, type Bbox, type MapLayer } from "~/components/map/layers";
import { MapView } from "~/components/map/map-view";
import { EmptyState, Loading, QueryError } from "~/components/ui/primitives";
import { useTRPC } from "~/trpc/react";

/** One colour per position on the promotion path, the same on every map. */
export const ENVIRONMENT_COLOURS = ["#2f9e44", "#1971c2", "#e8590c", "#862e9c", "#c2255c"];

/** Each environment's indexing scope (bbox and time) on the map, beside what its index holds. */
export function CoverageOverview() {
  const trpc = useTRPC();
  const environments = useQuery(trpc.environments.list.queryOptions());
  const index = useQuery(trpc.indexing.overview.queryOptions());

  const { layers, bounds } = useMemo(() => {
    const envs = environments.data ?? [];
    // Widest scope at the bottom so that every outline stays visible.
    const ordered = [...envs].reverse();
    const layers: MapLayer[] = ordered.map((e) => ({
      id: `scope-${e.name}`,
      kind: "line" as const,
      data: featureCollection([bboxToPolygon(e.scope.bbox as Bbox, { environment: e.name })]),
      paint: { "line-color": ENVIRONMENT_COLOURS[e.position % ENVIRONMENT_COLOURS.length]!, "line-width": 2.5 },
    }));
    const all = envs.map((e) => e.scope.bbox);
    const bounds: Bbox | undefined = all.length
      ? [Math.min(...all.map((b) => b[0])), Math.min(...all.map((b) => b[1])), Math.max(...all.map((b) => b[2])), Math.max(...all.map((b) => b[3]))]
      : undefined;
    return { layers, bounds };
  }, [environments.data]);

  if (environments.error) return <QueryError error={environments.error} />;
  if (!environments.data) return <Loading what="environments" />;
  return (
    <>
      <section className="panel" aria-labelledby="map-heading">
        <h2 id="map-heading">Scopes on the map</h2>
        <MapView aria-label="Coverage map" bounds={bounds} layers={layers} />
        <ul className="row" style={{ listStyle: "none", padding: 0, margin: "10px 0 0" }} aria-label="Legend">
          {environments.data.map((e) => (
            <li key={e.name} className="row" style={{ gap: 6 }}>
              <span aria-hidden style={{ width: 18, height: 4, background: ENVIRONMENT_COLOURS[e.position % ENVIRONMENT_COLOURS.length] }} />
              {e.label} scope
            </li>
          ))}
        </ul>
      </section>
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
    </>
  );
}
