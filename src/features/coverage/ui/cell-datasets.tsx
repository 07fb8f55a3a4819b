"use client";
import { useQuery } from "@tanstack/react-query";
import { Loading, QueryError } from "~/components/ui/primitives";
import type { DayRange } from "~/lib/periods";
import { useTRPC } from "~/trpc/react";

/** The datasets of one clicked cell in the period: time, cloud cover, and links to their documents and COGs. */
export function CellDatasets({ environment, product, cell, period, onClose }: { environment: string; product: string; cell: string; period: DayRange | null; onClose: () => void }) {
  const trpc = useTRPC();
  const list = useQuery(trpc.coverage.cellDatasets.queryOptions({ environment, product, cell, period: period ?? undefined, limit: 100 }));
  return (
    <section className="panel" aria-labelledby="cell-heading">
      <div className="row" style={{ marginBottom: 8 }}>
        <h2 id="cell-heading" style={{ margin: 0 }}>
          Datasets of cell {cell}
        </h2>
        {list.data && (
          <span className="muted">
            {list.data.total.toLocaleString("en-US")} in {environment}
            {period ? ` from ${period.from} to ${period.to}` : ""}
            {list.data.total > list.data.datasets.length ? `; the newest ${list.data.datasets.length} listed` : ""}
          </span>
        )}
        <span className="spacer" />
        <button type="button" className="btn" onClick={onClose}>
          Close
        </button>
      </div>
      {list.error && <QueryError error={list.error} />}
      {!list.data && !list.error && <Loading what="datasets" />}
      {list.data && (
        <table className="data" aria-label={`Datasets of cell ${cell}`}>
          <thead>
            <tr>
              <th scope="col">Acquired (UTC)</th>
              <th scope="col">Cloud cover</th>
              <th scope="col">Dataset</th>
              <th scope="col">Links</th>
            </tr>
          </thead>
          <tbody>
            {list.data.datasets.map((d) => (
              <tr key={d.id}>
                <td className="mono">{new Date(d.time).toISOString().slice(0, 19).replace("T", " ")}</td>
                <td>{d.cloudCover === null ? "—" : `${d.cloudCover.toFixed(1)} %`}</td>
                <td>
                  <div>{d.label ?? d.id}</div>
                  <div className="mono muted" style={{ fontSize: 12 }}>
                    {d.id}
                  </div>
                </td>
                <td>
                  <div className="row" style={{ gap: 10 }}>
                    <a href={d.eo3Url} target="_blank" rel="noreferrer">
                      EO3 document
                    </a>
                    {d.stacItemUrl && (
                      <a href={d.stacItemUrl} target="_blank" rel="noreferrer">
                        STAC item
                      </a>
                    )}
                  </div>
                  {d.cogs.length > 0 && (
                    <details>
                      <summary>{d.cogs.length} COGs</summary>
                      <ul style={{ margin: "4px 0 0", paddingLeft: 18 }}>
                        {d.cogs.map((c) => (
                          <li key={c.band}>
                            <a href={c.href} target="_blank" rel="noreferrer">
                              {c.band}
                            </a>
                          </li>
                        ))}
                      </ul>
                    </details>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
