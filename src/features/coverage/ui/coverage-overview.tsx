"use client";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { MapGeoJSONFeature } from "maplibre-gl";
import { useMemo, useState } from "react";
import { MapLegend } from "~/components/map/map-legend";
import { bboxToPolygon, countColorExpression, countStops, featureCollection, type Bbox, type MapLayer } from "~/components/map/layers";
import { MapView } from "~/components/map/map-view";
import { EmptyState, Loading, QueryError } from "~/components/ui/primitives";
import { Ago } from "~/components/ui/time";
import type { DayRange, Level } from "~/lib/periods";
import { useTRPC } from "~/trpc/react";
import { CellDatasets } from "./cell-datasets";
import { bucketLabel, TimeHistogram } from "./time-histogram";

/** One colour per position on the promotion path, the same on every map. */
export const ENVIRONMENT_COLOURS = ["#2f9e44", "#1971c2", "#e8590c", "#862e9c", "#c2255c"];
/** The difference layer: cells only the first environment has, only the other has, and both. */
export const DIFFERENCE_COLOURS = { "only-first": "#d6336c", "only-other": "#7048e8", both: "#adb5bd" } as const;

// Footprints of single datasets once the view holds this few cells: a rule in cells, not zoom levels,
// because cells are 110 km MGRS tiles in production and much smaller in the embedded samples.
const FOOTPRINT_CELLS = 4;
const LEVELS: { value: Level; label: string }[] = [
  { value: "y", label: "Year" },
  { value: "m", label: "Month" },
  { value: "d", label: "Day" },
];

type Mode = "coverage" | "difference" | "side-by-side";

/** The view rounded to ~1 km: panning a few pixels does not ask again. */
const roundBbox = (b: Bbox): Bbox => b.map((v) => Math.round(v * 100) / 100) as Bbox;

function periodText(p: DayRange | null): string {
  return p ? (p.from === p.to ? p.from : `${p.from} – ${p.to}`) : "all time";
}

/**
 * The Coverage page: an environment's product as cells coloured by dataset count over the
 * environments' scopes, a time histogram that filters the map, footprints at high zoom, a cell's
 * datasets on click, and two environments compared (difference layer or side by side).
 */
export function CoverageOverview() {
  const trpc = useTRPC();
  const environments = useQuery(trpc.environments.list.queryOptions());
  const overview = useQuery({ ...trpc.coverage.overview.queryOptions(), refetchInterval: 10_000 });
  const [chosenEnv, setEnvironment] = useState<string | null>(null);
  const [chosenProduct, setProduct] = useState<string | null>(null);
  const [chosenOther, setOther] = useState<string | null>(null);
  const [mode, setMode] = useState<Mode>("coverage");
  const [level, setLevel] = useState<Level>("m");
  const [period, setPeriod] = useState<DayRange | null>(null);
  // What the day histogram spans: the period chosen when switching to days (a month, a year), so
  // that picking one day keeps the others of that window on screen.
  const [dayWindow, setDayWindow] = useState<DayRange | null>(null);
  const [view, setView] = useState<{ bbox: Bbox; zoom: number } | null>(null);
  const [cell, setCell] = useState<string | null>(null);

  const envs = useMemo(() => environments.data ?? [], [environments.data]);
  const environment = chosenEnv ?? envs[0]?.name ?? null;
  const envCoverage = overview.data?.find((o) => o.environment === environment);
  const products = envCoverage?.products ?? [];
  const product = chosenProduct && products.some((p) => p.product === chosenProduct) ? chosenProduct : (products.find((p) => p.datasets > 0) ?? products[0])?.product ?? null;
  const other = chosenOther && chosenOther !== environment ? chosenOther : (envs.find((e) => e.name !== environment)?.name ?? null);
  const comparing = mode !== "coverage" && other !== null;
  const bbox = view ? roundBbox(view.bbox) : undefined;
  const ready = environment !== null && product !== null;

  const cells = useQuery({
    ...trpc.coverage.cells.queryOptions({ environment: environment ?? "", product: product ?? "", bbox, period: period ?? undefined }),
    enabled: ready && !comparing,
    placeholderData: keepPreviousData,
  });
  const compare = useQuery({
    ...trpc.coverage.compare.queryOptions({ environment: environment ?? "", other: other ?? "", product: product ?? "", bbox, period: period ?? undefined }),
    enabled: ready && comparing,
    placeholderData: keepPreviousData,
  });
  const histogram = useQuery({
    ...trpc.coverage.histogram.queryOptions({ environment: environment ?? "", product: product ?? "", level }),
    enabled: ready,
    placeholderData: keepPreviousData,
  });
  const footprintsWanted = ready && !comparing && !!view && !!cells.data && cells.data.cells.length > 0 && cells.data.cells.length <= FOOTPRINT_CELLS;
  const footprints = useQuery({
    ...trpc.coverage.footprints.queryOptions({ environment: environment ?? "", product: product ?? "", bbox: bbox ?? [-180, -90, 180, 90], period: period ?? undefined }),
    enabled: footprintsWanted,
  });

  const scopeLayers = useMemo<MapLayer[]>(
    () =>
      [...envs].reverse().map((e) => ({
        id: `scope-${e.name}`,
        kind: "line" as const,
        data: featureCollection([bboxToPolygon(e.scope.bbox as Bbox, { environment: e.name })]),
        paint: { "line-color": ENVIRONMENT_COLOURS[e.position % ENVIRONMENT_COLOURS.length]!, "line-width": 2.5 },
      })),
    [envs],
  );
  const bounds = useMemo<Bbox | undefined>(() => {
    const all = envs.map((e) => e.scope.bbox);
    return all.length ? [Math.min(...all.map((b) => b[0])), Math.min(...all.map((b) => b[1])), Math.max(...all.map((b) => b[2])), Math.max(...all.map((b) => b[3]))] : undefined;
  }, [envs]);

  const cellData = cells.data;
  const compareData = compare.data;
  const footprintData = footprintsWanted ? footprints.data : undefined;
  const countLayers = useMemo<MapLayer[]>(() => {
    if (!cellData) return [];
    const data = featureCollection(cellData.cells.map((c) => bboxToPolygon(c.bbox, { cell: c.cell, datasets: c.datasets })));
    return [
      { id: "coverage-cells", kind: "fill", data, paint: { "fill-color": countColorExpression("datasets", cellData.maxCount), "fill-opacity": 0.85 } },
      { id: "coverage-cell-edges", kind: "line", data, paint: { "line-color": "#253494", "line-width": 0.6, "line-opacity": 0.6 } },
    ];
  }, [cellData]);
  const differenceLayers = useMemo<MapLayer[]>(() => {
    if (!compareData || mode !== "difference") return [];
    const data = featureCollection(compareData.cells.map((c) => bboxToPolygon(c.bbox, { cell: c.cell, presence: c.presence, first: c.counts[0], other: c.counts[1] })));
    return [
      {
        id: "coverage-difference",
        kind: "fill",
        data,
        paint: { "fill-color": ["match", ["get", "presence"], "only-first", DIFFERENCE_COLOURS["only-first"], "only-other", DIFFERENCE_COLOURS["only-other"], DIFFERENCE_COLOURS.both], "fill-opacity": 0.9 },
      },
      { id: "coverage-difference-edges", kind: "line", data, paint: { "line-color": "#495057", "line-width": 0.6, "line-opacity": 0.6 } },
    ];
  }, [compareData, mode]);
  const footprintLayers = useMemo<MapLayer[]>(
    () => (footprintData ? [{ id: "coverage-footprints", kind: "line", data: footprintData.collection, paint: { "line-color": "#212529", "line-width": 1 } }] : []),
    [footprintData],
  );
  const selectedLayer = useMemo<MapLayer[]>(() => {
    const c = cellData?.cells.find((x) => x.cell === cell);
    return c && !comparing ? [{ id: "coverage-selected", kind: "line", data: featureCollection([bboxToPolygon(c.bbox, { cell: c.cell })]), paint: { "line-color": "#f03e3e", "line-width": 3 } }] : [];
  }, [cellData, cell, comparing]);
  const layers = useMemo(
    () => [...(comparing ? differenceLayers : countLayers), ...footprintLayers, ...scopeLayers, ...selectedLayer],
    [comparing, differenceLayers, countLayers, footprintLayers, scopeLayers, selectedLayer],
  );

  if (environments.error) return <QueryError error={environments.error} />;
  if (overview.error) return <QueryError error={overview.error} />;
  if (!environments.data || !overview.data) return <Loading what="coverage" />;

  const onFeatureClick = (layerId: string, feature: MapGeoJSONFeature) => {
    // Any layer of cells (fill or edge); footprints and scopes carry no cell.
    if (layerId.startsWith("coverage-") && typeof feature.properties.cell === "string") setCell(feature.properties.cell);
  };
  const onViewChange = (b: Bbox, zoom: number) => setView({ bbox: b, zoom });
  const envLabel = (name: string | null) => envs.find((e) => e.name === name)?.label ?? name ?? "";

  const empty = comparing ? (compareData && compareData.cells.length === 0 ? { message: `Neither ${envLabel(environment)} nor ${envLabel(other)} has ${product} datasets in this view for ${periodText(period)}.` } : null) : cellData?.empty;
  const queryError = cells.error ?? compare.error;

  return (
    <>
      <section className="panel" aria-labelledby="map-heading">
        <div className="row" style={{ marginBottom: 10, gap: 16 }}>
          <h2 id="map-heading" style={{ margin: 0 }}>
            Coverage on the map
          </h2>
          <label className="row">
            Environment
            <select
              aria-label="Environment"
              value={environment ?? ""}
              onChange={(e) => {
                setEnvironment(e.target.value);
                setCell(null);
              }}
            >
              {envs.map((e) => (
                <option key={e.name} value={e.name}>
                  {e.label}
                </option>
              ))}
            </select>
          </label>
          <label className="row">
            Product
            <select
              aria-label="Product"
              value={product ?? ""}
              disabled={products.length === 0}
              onChange={(e) => {
                setProduct(e.target.value);
                setCell(null);
              }}
            >
              {products.map((p) => (
                <option key={p.product} value={p.product}>
                  {p.product} ({p.datasets.toLocaleString("en-US")})
                </option>
              ))}
            </select>
          </label>
          <label className="row">
            Show
            <select aria-label="Show" value={mode} onChange={(e) => setMode(e.target.value as Mode)}>
              <option value="coverage">Datasets per cell</option>
              <option value="difference">Difference with another environment</option>
              <option value="side-by-side">Side by side with another environment</option>
            </select>
          </label>
          {mode !== "coverage" && (
            <label className="row">
              Compare with
              <select aria-label="Compare with" value={other ?? ""} onChange={(e) => setOther(e.target.value)}>
                {envs
                  .filter((e) => e.name !== environment)
                  .map((e) => (
                    <option key={e.name} value={e.name}>
                      {e.label}
                    </option>
                  ))}
              </select>
            </label>
          )}
        </div>
        <SummaryStatus coverage={envCoverage} />
        {queryError && <QueryError error={queryError} />}
        {mode === "side-by-side" && comparing ? (
          <SideBySide environments={[environment!, other!]} labels={[envLabel(environment), envLabel(other)]} data={compareData} bounds={bounds} scopeLayers={scopeLayers} onViewChange={onViewChange} />
        ) : (
          <MapView aria-label="Coverage map" bounds={bounds} layers={layers} onFeatureClick={onFeatureClick} onViewChange={onViewChange}>
            {comparing ? (
              <MapLegend
                title={`${envLabel(environment)} vs ${envLabel(other)}`}
                items={[
                  { label: `Only in ${envLabel(environment)}`, color: DIFFERENCE_COLOURS["only-first"] },
                  { label: `Only in ${envLabel(other)}`, color: DIFFERENCE_COLOURS["only-other"] },
                  { label: "In both", color: DIFFERENCE_COLOURS.both },
                ]}
              />
            ) : (
              cellData && cellData.cells.length > 0 && <MapLegend title="Datasets per cell" ramp={countStops(cellData.maxCount)} />
            )}
            {empty && (
              <div role="status" className="alert" style={{ position: "absolute", left: 12, right: 60, bottom: 36, zIndex: 2, background: "rgb(255 255 255 / 94%)" }}>
                {empty.message}
              </div>
            )}
          </MapView>
        )}
        <div className="row muted" style={{ marginTop: 8 }} data-testid="coverage-summary">
          {comparing && compareData ? (
            <span>
              {compareData.totals.onlyFirst} cells only in {envLabel(environment)}, {compareData.totals.onlyOther} only in {envLabel(other)}, {compareData.totals.both} in both ({periodText(period)}).
            </span>
          ) : (
            cellData && (
              <span>
                {cellData.total.toLocaleString("en-US")} datasets in {cellData.cells.length} cells in view ({periodText(period)}).
              </span>
            )
          )}
          {footprintsWanted && footprints.data && (
            <span>
              {footprints.data.collection.features.length} footprints drawn{footprints.data.truncated ? `, the first ${footprints.data.limit}: zoom in for all` : ""}.
            </span>
          )}
          {!footprintsWanted && !comparing && <span>Zoom in further for single dataset footprints.</span>}
        </div>
        <ScopeLegend envs={envs} />
      </section>

      <section className="panel" aria-labelledby="histogram-heading">
        <div className="row" style={{ marginBottom: 8, gap: 16 }}>
          <h2 id="histogram-heading" style={{ margin: 0 }}>
            Datasets over time
          </h2>
          <label className="row">
            Histogram by
            <select
              aria-label="Histogram by"
              value={level}
              onChange={(e) => {
                const next = e.target.value as Level;
                if (next === "d") setDayWindow(period);
                setLevel(next);
              }}
            >
              {LEVELS.map((l) => (
                <option key={l.value} value={l.value}>
                  {l.label}
                </option>
              ))}
            </select>
          </label>
          <span data-testid="period">Period: {periodText(period)}</span>
          {period && (
            <button type="button" className="btn" onClick={() => setPeriod(null)}>
              All time
            </button>
          )}
        </div>
        {histogram.error && <QueryError error={histogram.error} />}
        {histogram.data ? (
          <TimeHistogram buckets={histogram.data.buckets} level={histogram.data.level} selection={period} within={dayWindow} onSelect={(r) => setPeriod(r)} />
        ) : (
          ready && <Loading what="histogram" />
        )}
        {histogram.data && histogram.data.buckets.length > 0 && (
          <p className="muted" style={{ margin: "6px 0 0" }}>
            {bucketLabel(histogram.data.buckets[0]!.period, histogram.data.level)} to {bucketLabel(histogram.data.buckets.at(-1)!.period, histogram.data.level)} (UTC). Click a bar to show only that {level === "d" ? "day" : level === "m" ? "month" : "year"} on the map; shift-click or drag for a range.
          </p>
        )}
      </section>

      {cell && environment && product && !comparing && <CellDatasets environment={environment} product={product} cell={cell} period={period} onClose={() => setCell(null)} />}

      <section className="panel" aria-labelledby="scopes-heading">
        <h2 id="scopes-heading">Scopes</h2>
        <table className="data">
          <thead>
            <tr>
              <th scope="col">Environment</th>
              <th scope="col">Area (W, S, E, N)</th>
              <th scope="col">Time</th>
              <th scope="col">Datasets summarised</th>
            </tr>
          </thead>
          <tbody>
            {envs.map((e) => {
              const c = overview.data.find((o) => o.environment === e.name);
              return (
                <tr key={e.name}>
                  <td>{e.label}</td>
                  <td className="mono">{e.scope.bbox.join(", ")}</td>
                  <td className="mono">{e.scope.datetime}</td>
                  <td data-testid={`summarised-${e.name}`}>{c?.unavailable ?? (c ? c.products.reduce((n, p) => n + p.datasets, 0).toLocaleString("en-US") : "…")}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {overview.data.every((o) => o.products.every((p) => p.datasets === 0)) && (
          <div style={{ marginTop: 12 }}>
            <EmptyState title="No coverage yet">
              <p>Cells coloured by dataset count and a time histogram appear once an environment&apos;s index holds datasets and the indexer has summarised them.</p>
            </EmptyState>
          </div>
        )}
      </section>
    </>
  );
}

function SummaryStatus({ coverage }: { coverage: { unavailable: string | null; state: { refreshedAt: Date } | null; pending: number | null } | undefined }) {
  if (!coverage) return null;
  if (coverage.unavailable) return <p className="alert warn">{coverage.unavailable}</p>;
  if (!coverage.state) return <p className="muted">Not summarised yet: the next indexer run (or `piksel index coverage`) does it.</p>;
  return (
    <p className="muted" style={{ margin: "0 0 8px" }}>
      Summaries refreshed <Ago at={coverage.state.refreshedAt} />
      {coverage.pending ? `; ${coverage.pending.toLocaleString("en-US")} datasets added or changed since are not on the map yet.` : "; up to date with the index."}
    </p>
  );
}

function ScopeLegend({ envs }: { envs: { name: string; label: string; position: number }[] }) {
  return (
    <ul className="row" style={{ listStyle: "none", padding: 0, margin: "10px 0 0" }} aria-label="Legend">
      {envs.map((e) => (
        <li key={e.name} className="row" style={{ gap: 6 }}>
          <span aria-hidden style={{ width: 18, height: 4, background: ENVIRONMENT_COLOURS[e.position % ENVIRONMENT_COLOURS.length] }} />
          {e.label} scope
        </li>
      ))}
    </ul>
  );
}

interface CompareData {
  cells: { cell: string; bbox: Bbox; counts: [number, number] }[];
}

/** Two maps, one per environment, with one count scale, so their colours compare. */
function SideBySide({
  environments,
  labels,
  data,
  bounds,
  scopeLayers,
  onViewChange,
}: {
  environments: [string, string];
  labels: [string, string];
  data: CompareData | undefined;
  bounds: Bbox | undefined;
  scopeLayers: MapLayer[];
  onViewChange: (b: Bbox, zoom: number) => void;
}) {
  const max = data ? data.cells.reduce((m, c) => Math.max(m, c.counts[0], c.counts[1]), 0) : 0;
  const sides = useMemo(
    () =>
      ([0, 1] as const).map((i) => {
        const cells = featureCollection((data?.cells ?? []).filter((c) => c.counts[i] > 0).map((c) => bboxToPolygon(c.bbox, { cell: c.cell, datasets: c.counts[i] })));
        return [{ id: `side-cells-${i}`, kind: "fill", data: cells, paint: { "fill-color": countColorExpression("datasets", max), "fill-opacity": 0.8 } }, ...scopeLayers] as MapLayer[];
      }),
    [data, max, scopeLayers],
  );
  return (
    <div style={{ display: "grid", gridTemplateColumns: "1fr 1fr", gap: 8 }}>
      {sides.map((layers, i) => (
        <div key={environments[i]}>
          <h3 style={{ margin: "0 0 4px", fontSize: 14 }}>{labels[i]}</h3>
          <MapView aria-label={`Coverage map of ${labels[i]}`} data-testid={`map-view-${environments[i]}`} bounds={bounds} layers={layers} onViewChange={i === 0 ? onViewChange : undefined}>
            {i === 0 && max > 0 && <MapLegend title="Datasets per cell" ramp={countStops(max)} />}
          </MapView>
        </div>
      ))}
    </div>
  );
}
