"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { Badge, EmptyState, Loading, QueryError, type Tone } from "~/components/ui/primitives";
import { Ago, Digest } from "~/components/ui/time";
import { useTRPC } from "~/trpc/react";

const fluxTone: Record<string, Tone> = { ready: "ok", reconciling: "info", failed: "bad", suspended: "warn", unknown: "neutral" };

/** Images x environments, live: desired tag and digest, the commit that set it, Flux state, drift. */
export function EnvironmentsMatrix() {
  const trpc = useTRPC();
  const matrix = useQuery({ ...trpc.environments.matrix.queryOptions(), refetchInterval: 3000 });
  if (matrix.error) return <QueryError error={matrix.error} />;
  if (!matrix.data) return <Loading what="what runs where" />;
  const { environments, rows } = matrix.data;
  return (
    <section className="panel" aria-labelledby="matrix-heading">
      <h2 id="matrix-heading">What runs where</h2>
      <table className="data" aria-label="Images per environment">
        <thead>
          <tr>
            <th scope="col">Image</th>
            {environments.map((e) => (
              <th scope="col" key={e.name}>
                <div className="row">
                  {e.label}
                  {e.flux && (
                    <Badge tone={fluxTone[e.flux.state]} title={e.flux.message}>
                      Flux {e.flux.state}
                    </Badge>
                  )}
                </div>
                {e.flux && e.flux.state !== "ready" && <div className="muted" style={{ textTransform: "none", fontWeight: 400, letterSpacing: 0 }}>{e.flux.message}</div>}
                {e.problems.map((p) => (
                  <div key={p} role="alert" className="alert bad" style={{ textTransform: "none", fontWeight: 400, letterSpacing: 0, margin: "4px 0 0", padding: "4px 8px" }}>
                    {p}
                  </div>
                ))}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.imageName}>
              <th scope="row" className="mono">
                {row.imageName}
              </th>
              {environments.map((e) => {
                const c = row.cells[e.name];
                if (!c) return <td key={e.name} className="muted">not in this overlay</td>;
                return (
                  <td key={e.name} data-testid={`cell-${e.name}-${row.imageName}`}>
                    <div className="row">
                      <strong>{c.desired.tag ?? "untagged"}</strong>
                      {c.desired.digest ? (
                        <Link href={`/images/${encodeURIComponent(c.desired.digest)}?image=${encodeURIComponent(row.imageName)}`}>
                          <Digest digest={c.desired.digest} />
                        </Link>
                      ) : (
                        <Digest digest={null} />
                      )}
                    </div>
                    <div className="muted">
                      set by <code>{c.desired.commit?.slice(0, 7) ?? "?"}</code> <Ago at={c.desired.setAt} />
                    </div>
                    <div className="row" style={{ marginTop: 4 }}>
                      {c.deployed ? <Badge tone="ok">deployed</Badge> : <Badge tone="info" title={c.unmet.join("; ")}>not deployed yet</Badge>}
                      {c.drift && (
                        <Badge tone="bad" title={`Pods run ${c.running.digests.join(", ")}`}>
                          drift
                        </Badge>
                      )}
                      <span className="muted">
                        {c.running.ready}/{c.running.pods} pods ready
                      </span>
                    </div>
                    {c.drift && (
                      <div className="muted">
                        running <Digest digest={c.running.digests.find((d) => d !== c.desired.digest) ?? null} />
                      </div>
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && (
        <EmptyState title="No images in the overlays yet">
          <p>Each overlay&apos;s <code>images:</code> entries appear here with the digest git desires and the one that runs.</p>
        </EmptyState>
      )}
    </section>
  );
}
