"use client";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useMemo, useState, type ChangeEvent } from "react";
import { bboxToPolygon, countColorExpression, countStops, featureCollection, type Bbox, type MapLayer } from "~/components/map/layers";
import { MapLegend } from "~/components/map/map-legend";
import { MapView } from "~/components/map/map-view";
import { Loading, QueryError } from "~/components/ui/primitives";
import { AoiError, aoiGeometry, parseAoi } from "~/lib/aoi";
import type { Role } from "~/lib/roles";
import { useTRPC } from "~/trpc/react";
import { useAoiDrawing, type PolygonGeometry } from "./use-aoi-drawing";

type Geometry = ReturnType<typeof aoiGeometry>;

/** Years an environment's indexed time range meets (`a/b`, open ends as `..`), newest first. */
export function scopeYears(datetime: string, now = new Date()): number[] {
  const [from, to] = datetime.split("/").map((t) => (t === ".." ? null : new Date(t)));
  const first = Math.max(2015, from?.getUTCFullYear() ?? 2015);
  const last = Math.min(now.getUTCFullYear(), to?.getUTCFullYear() ?? now.getUTCFullYear());
  const years: number[] = [];
  for (let y = last; y >= first; y--) years.push(y);
  return years;
}

/** The client's checks of an AOI, with the same messages as the server's (src/lib/aoi.ts + the plan). */
function checkAoi(geometry: unknown, env: { name: string; scope: { bbox: number[] } } | undefined, limitKm2: number | undefined) {
  if (geometry === null) return { error: null, aoi: null };
  try {
    const aoi = parseAoi(geometry);
    if (limitKm2 !== undefined && aoi.areaKm2 > limitKm2) {
      return { error: `The AOI covers ${Math.round(aoi.areaKm2).toLocaleString("en")} km²; your role may request up to ${limitKm2.toLocaleString("en")} km² in ${env?.name}. Draw a smaller area or split it.`, aoi };
    }
    if (env) {
      const [w, s, e, n] = env.scope.bbox as Bbox;
      if (aoi.bbox[2] < w || aoi.bbox[0] > e || aoi.bbox[3] < s || aoi.bbox[1] > n) {
        return { error: `The AOI lies outside ${env.name}'s coverage (${w}, ${s}, ${e}, ${n}); nothing is indexed there. Draw it inside the outlined area.`, aoi };
      }
    }
    return { error: null, aoi };
  } catch (err) {
    if (err instanceof AoiError) return { error: err.message, aoi: null };
    throw err;
  }
}

/**
 * The new request page: draw or upload an AOI, pick environment and year, see the plan (grid tiles with
 * the scenes found for each, empty tiles flagged) and submit. Invalid input is refused here with the
 * server's messages, and again by the server.
 */
export function NewRequest({ role, initialEnvironment }: { role: Role; initialEnvironment?: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const environments = useQuery(trpc.environments.list.queryOptions());
  const [environment, setEnvironment] = useState(initialEnvironment ?? "");
  const [year, setYear] = useState<number | null>(null);
  const [title, setTitle] = useState("");
  const [geometry, setGeometry] = useState<Geometry | PolygonGeometry | null>(null);
  const [uploadError, setUploadError] = useState<string | null>(null);
  // Uploaded shapes terra-draw cannot edit (multipolygons) are drawn as a plain layer instead.
  const [staticShape, setStaticShape] = useState<Geometry | null>(null);
  const [submissionKey] = useState(() => crypto.randomUUID());
  const drawing = useAoiDrawing((g) => {
    setGeometry(g);
    setStaticShape(null);
    setUploadError(null);
  });

  const envs = environments.data ?? [];
  const env = envs.find((e) => e.name === environment) ?? envs[0];
  const years = useMemo(() => (env ? scopeYears(env.scope.datetime) : []), [env]);
  const selectedYear = year !== null && years.includes(year) ? year : (years[0] ?? null);
  const limitKm2 = env?.policy.maxAoiKm2[role];
  const check = useMemo(() => checkAoi(geometry, env, limitKm2), [geometry, env, limitKm2]);

  const planInput = env && selectedYear !== null && check.aoi && !check.error ? { environment: env.name, year: selectedYear, aoi: geometry } : null;
  const plan = useQuery({ ...trpc.requests.plan.queryOptions(planInput ?? { environment: "", year: 2024, aoi: null }), enabled: planInput !== null, staleTime: 60_000 });
  const submit = useMutation(trpc.requests.submit.mutationOptions({ onSuccess: ({ id }) => router.push(`/requests/${id}`) }));
  const planData = planInput ? plan.data : undefined;

  const layers = useMemo(() => {
    const out: MapLayer[] = [];
    // Below terra-draw's layers (td-*), so the AOI being drawn or edited stays on top.
    const beforeId = "td-polygon";
    if (env) out.push({ id: "scope", kind: "line", beforeId, data: featureCollection([bboxToPolygon(env.scope.bbox as Bbox)]), paint: { "line-color": "#1971c2", "line-width": 2, "line-dasharray": [3, 2] } });
    if (planData) {
      const max = Math.max(1, ...planData.tiles.map((t) => t.scenes));
      const withScenes = featureCollection(planData.tiles.filter((t) => t.scenes > 0).map((t) => bboxToPolygon(t.bounds, { taskId: t.taskId, scenes: t.scenes })));
      const empty = featureCollection(planData.tiles.filter((t) => t.scenes === 0).map((t) => bboxToPolygon(t.bounds, { taskId: t.taskId, scenes: 0 })));
      out.push({ id: "plan-tiles", kind: "fill", beforeId, data: withScenes, paint: { "fill-color": countColorExpression("scenes", max), "fill-opacity": 0.55 } });
      out.push({ id: "plan-tiles-outline", kind: "line", beforeId, data: withScenes, paint: { "line-color": "#253494", "line-width": 0.6 } });
      out.push({ id: "plan-empty-tiles", kind: "line", beforeId, data: empty, paint: { "line-color": "#c62828", "line-width": 1.5, "line-dasharray": [2, 1] } });
    }
    if (staticShape) {
      const data = featureCollection([{ type: "Feature" as const, geometry: staticShape, properties: {} }]);
      out.push({ id: "aoi-upload", kind: "line", data, paint: { "line-color": "#e8590c", "line-width": 2.5 } });
    }
    return out;
  }, [env, planData, staticShape]);
  // The plan's tiles when there is a plan (they reach beyond the AOI), else the AOI, else the scope.
  const bounds = useMemo((): Bbox | undefined => {
    const t = planData?.tiles;
    if (t?.length) return [Math.min(...t.map((x) => x.bounds[0])), Math.min(...t.map((x) => x.bounds[1])), Math.max(...t.map((x) => x.bounds[2])), Math.max(...t.map((x) => x.bounds[3]))];
    return (check.aoi?.bbox ?? env?.scope.bbox) as Bbox | undefined;
  }, [planData, check.aoi, env]);

  async function onUpload(e: ChangeEvent<HTMLInputElement>) {
    const file = e.target.files?.[0];
    e.target.value = "";
    if (!file) return;
    if (file.size > 5_000_000) return setUploadError(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; an AOI file should be well under 5 MB. Simplify the polygon first.`);
    let json: unknown;
    try {
      json = JSON.parse(await file.text());
    } catch (err) {
      return setUploadError(`${file.name} is not valid JSON (${(err as Error).message}). Upload a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection of one polygon.`);
    }
    let parsed;
    try {
      parsed = parseAoi(json);
    } catch (err) {
      if (err instanceof AoiError) return setUploadError(`${file.name}: ${err.message}`);
      throw err;
    }
    setUploadError(null);
    const g = aoiGeometry(parsed);
    setGeometry(g);
    if (g.type === "Polygon" && drawing.load(g as PolygonGeometry)) setStaticShape(null);
    else {
      drawing.clear();
      setGeometry(g);
      setStaticShape(g);
    }
  }

  if (environments.error) return <QueryError error={environments.error} />;
  if (!environments.data) return <Loading what="environments" />;
  const canSubmit = planData && planData.totals.tiles > planData.totals.empty && !submit.isPending;

  return (
    <div className="grid" style={{ gridTemplateColumns: "minmax(280px, 340px) 1fr", alignItems: "start" }}>
      <section className="panel" aria-labelledby="request-form-heading">
        <h2 id="request-form-heading">Request</h2>
        <div className="field">
          <label htmlFor="request-environment">Environment</label>
          <select id="request-environment" value={env?.name ?? ""} onChange={(e) => setEnvironment(e.target.value)} style={{ width: "100%" }}>
            {envs.map((e) => (
              <option key={e.name} value={e.name}>
                {e.label}
              </option>
            ))}
          </select>
          {limitKm2 !== undefined && <p className="muted" style={{ marginTop: 4 }}>Up to {limitKm2.toLocaleString("en")} km² per request for your role here.</p>}
        </div>
        <div className="field">
          <label htmlFor="request-product">Product</label>
          <select id="request-product" value="gm_s2_annual" disabled style={{ width: "100%" }}>
            <option value="gm_s2_annual">gm_s2_annual: annual Sentinel-2 geomedian</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="request-year">Year</label>
          <select id="request-year" value={selectedYear ?? ""} onChange={(e) => setYear(Number(e.target.value))} style={{ width: "100%" }}>
            {years.map((y) => (
              <option key={y} value={y}>
                {y}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="request-title">Title (optional)</label>
          <input id="request-title" value={title} maxLength={120} onChange={(e) => setTitle(e.target.value)} placeholder="e.g. Yogyakarta rice fields 2024" />
        </div>
        <fieldset className="field" style={{ border: 0, padding: 0, margin: "0 0 14px" }}>
          <legend style={{ fontWeight: 600, fontSize: 13, marginBottom: 4 }}>Area of interest</legend>
          <div className="row">
            <button type="button" className="btn" aria-pressed={drawing.mode === "polygon"} disabled={!drawing.ready} onClick={() => drawing.setMode("polygon")}>
              Draw polygon
            </button>
            <button type="button" className="btn" aria-pressed={drawing.mode === "select"} disabled={!drawing.ready || !geometry || !!staticShape} onClick={() => drawing.setMode("select")}>
              Edit
            </button>
            <button type="button" className="btn" disabled={!geometry} onClick={() => (drawing.clear(), setStaticShape(null), setGeometry(null))}>
              Clear
            </button>
          </div>
          <p className="muted" style={{ margin: "6px 0" }}>
            {drawing.mode === "polygon" ? "Click the map for each corner; click the first corner (or press Enter) to close." : drawing.mode === "select" ? "Click the polygon, then drag its corners or midpoints." : "Draw on the map, or upload a file."}
          </p>
          <label htmlFor="request-upload" style={{ fontWeight: 400 }}>
            Upload GeoJSON
          </label>
          <input id="request-upload" type="file" accept=".geojson,.json,application/geo+json,application/json" onChange={(e) => void onUpload(e)} />
        </fieldset>
        {(uploadError ?? check.error) && (
          <div className="alert bad" role="alert">
            {uploadError ?? check.error}
          </div>
        )}
        {check.aoi && !check.error && <p>AOI: {check.aoi.areaKm2.toLocaleString("en", { maximumFractionDigits: 1 })} km²</p>}
        <PlanSummary plan={planData} loading={planInput !== null && plan.isFetching && !planData} error={planInput ? plan.error : null} />
        {submit.error && (
          <div className="alert bad" role="alert">
            {submit.error.message}
          </div>
        )}
        <button
          type="button"
          className="btn primary"
          disabled={!canSubmit}
          onClick={() => planInput && submit.mutate({ ...planInput, product: "gm_s2_annual", title: title.trim() || undefined, submissionKey })}
        >
          {submit.isPending ? "Submitting…" : "Submit request"}
        </button>
      </section>
      <section className="panel" aria-labelledby="request-map-heading">
        <h2 id="request-map-heading">Map</h2>
        <MapView aria-label="Request map" bounds={bounds} layers={layers} onMapReady={drawing.attach}>
          {planData && <MapLegend title="Scenes per tile" ramp={countStops(Math.max(1, ...planData.tiles.map((t) => t.scenes)))} />}
        </MapView>
        <p className="muted" style={{ marginTop: 8 }}>
          Dashed blue: {env?.label}&apos;s indexed area. Tiles are coloured by the scenes found for the year; dashed red tiles have none and are skipped.
        </p>
      </section>
    </div>
  );
}

type PlanData = { grid: string; totals: { tiles: number; scenes: number; empty: number }; tiles: { taskId: string; scenes: number; bounds: Bbox }[] };

function PlanSummary({ plan, loading, error }: { plan: PlanData | undefined; loading: boolean; error: { message: string } | null }) {
  if (error) {
    return (
      <div className="alert bad" role="alert">
        {error.message}
      </div>
    );
  }
  if (loading) return <Loading what="the plan" />;
  if (!plan) return null;
  const run = plan.totals.tiles - plan.totals.empty;
  return (
    <div className="alert info" role="status" aria-label="Plan">
      <strong>
        {plan.totals.tiles.toLocaleString("en")} tile{plan.totals.tiles === 1 ? "" : "s"}
      </strong>{" "}
      of {plan.grid}, {plan.totals.scenes.toLocaleString("en")} scenes.
      {plan.totals.empty > 0 && (
        <>
          {" "}
          {plan.totals.empty} empty tile{plan.totals.empty === 1 ? "" : "s"} (no scenes) will be skipped.
        </>
      )}
      {run === 0 ? <div>No tile has scenes for this year: nothing to compute.</div> : <div>{run.toLocaleString("en")} task{run === 1 ? "" : "s"} will run.</div>}
    </div>
  );
}
