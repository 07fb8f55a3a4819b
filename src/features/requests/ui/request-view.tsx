"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { bboxToPolygon, featureCollection, type Bbox, type MapLayer } from "~/components/map/layers";
import { MapLegend } from "~/components/map/map-legend";
import { MapView } from "~/components/map/map-view";
import { Dialog } from "~/components/ui/dialog";
import { Badge, Loading, QueryError, type Tone } from "~/components/ui/primitives";
import { Ago, Digest } from "~/components/ui/time";
import { outputRasterLayer } from "~/features/outputs/ui/output-layer";
import { useTRPC } from "~/trpc/react";
import type { TaskStateName } from "../requests.schema";

/** Colours of task states on the map and in the legend (colour-blind safe pairs: blue/orange, green/red by lightness). */
export const TASK_COLOURS: Record<TaskStateName, string> = {
  pending: "#adb5bd",
  running: "#1c7ed6",
  retrying: "#f59f00",
  succeeded: "#2b8a3e",
  failed: "#e03131",
  cancelled: "#495057",
};
const taskTone: Record<TaskStateName, Tone> = { pending: "neutral", running: "info", retrying: "warn", succeeded: "ok", failed: "bad", cancelled: "neutral" };
export const requestTone: Record<string, Tone> = { submitting: "warn", running: "info", cancelling: "warn", succeeded: "ok", failed: "bad", cancelled: "neutral" };
const ACTIVE = new Set(["submitting", "running", "cancelling"]);
/** Table rows shown before "Show all": a 1 000-tile request stays quick to render every poll. */
const ROWS = 100;

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const pct = Math.round(value * 100);
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
      <div style={{ width: `${pct}%` }} />
    </div>
  );
}

/** The request page: tiles on the map coloured by state, progress, per-tile logs, cancel and retry. */
export function RequestView({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const request = useQuery({
    ...trpc.requests.get.queryOptions({ id }),
    // Live while anything can change; a finished request is not polled.
    refetchInterval: (q) => (q.state.data && !ACTIVE.has(q.state.data.state) ? false : 1500),
  });
  const [selected, setSelected] = useState<number | null>(null);
  const [showAll, setShowAll] = useState(false);
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [showOutputs, setShowOutputs] = useState(true);
  const [opacity, setOpacity] = useState(1);
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.requests.get.queryKey({ id }) });
  const cancel = useMutation(trpc.requests.cancel.mutationOptions({ onSuccess: () => (setConfirmCancel(false), invalidate()) }));
  const retry = useMutation(trpc.requests.retry.mutationOptions({ onSuccess: invalidate }));
  const data = request.data;

  // The tiles' geometry changes never; their state does: one collection per state signature.
  const stateKey = data?.tasks.map((t) => t.state[0]).join("") ?? "";
  const tiles = data?.tasks;
  const succeeded = tiles?.filter((t) => t.state === "succeeded").map((t) => ({ x: t.x, y: t.y }));
  const stateLayers = useMemo(() => {
    if (!tiles || !data) return [];
    const features = tiles.map((t) => bboxToPolygon(t.bounds, { index: t.index, state: t.state, color: TASK_COLOURS[t.state] }));
    // Finished tiles are not filled while their outputs are shown: the RGB layer below is the point.
    const fillOpacity = showOutputs ? ["case", ["==", ["get", "state"], "succeeded"], 0, 0.45] : 0.45;
    const out: MapLayer[] = [
      { id: "tiles", kind: "fill", data: featureCollection(features), paint: { "fill-color": ["get", "color"], "fill-opacity": fillOpacity as never } },
      { id: "tiles-outline", kind: "line", data: featureCollection(features), paint: { "line-color": ["get", "color"], "line-width": 1.2 } },
      { id: "aoi", kind: "line", data: featureCollection([{ type: "Feature" as const, geometry: data.aoi as never, properties: {} }]), paint: { "line-color": "#e8590c", "line-width": 2.5 } },
    ];
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps -- stateKey stands for the tiles' states
  }, [stateKey, data?.id, showOutputs]);
  const outputLayer = useMemo(
    () =>
      data && succeeded?.length
        ? outputRasterLayer({ environment: data.environment, period: data.period, grid: data.grid, tasks: succeeded, opacity, visible: showOutputs, beforeId: "tiles", version: succeeded.length })
        : null,
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the succeeded tiles change only with stateKey
    [data?.id, stateKey, opacity, showOutputs],
  );
  const layers = useMemo(() => (outputLayer ? [outputLayer, ...stateLayers] : stateLayers), [outputLayer, stateLayers]);
  const bounds = useMemo((): Bbox | undefined => {
    if (!tiles?.length) return undefined;
    return [Math.min(...tiles.map((t) => t.bounds[0])), Math.min(...tiles.map((t) => t.bounds[1])), Math.max(...tiles.map((t) => t.bounds[2])), Math.max(...tiles.map((t) => t.bounds[3]))];
    // eslint-disable-next-line react-hooks/exhaustive-deps -- tile bounds never change
  }, [data?.id, tiles?.length]);

  if (request.error) return <QueryError error={request.error} />;
  if (!data) return <Loading what="the request" />;
  const failed = data.counts.failed;
  const ordered = [...data.tasks].sort((a, b) => rank(a.state) - rank(b.state) || a.index - b.index);
  const rows = showAll ? ordered : ordered.slice(0, ROWS);
  const task = selected === null ? null : data.tasks[selected];

  return (
    <>
      <section className="panel" aria-labelledby="summary-heading">
        <div className="row" style={{ alignItems: "flex-start" }}>
          <div>
            <h2 id="summary-heading" style={{ marginBottom: 4 }}>
              {data.title ?? `${data.product} ${data.period}`} <Badge tone={requestTone[data.state]}>{data.state}</Badge>
            </h2>
            <p className="muted">
              {data.environment} · {data.product} · {data.period} · {data.tasks.length} tile{data.tasks.length === 1 ? "" : "s"} · {Math.round(data.areaKm2).toLocaleString("en")} km² · requested by {data.requestedBy.name} <Ago at={data.requestedAt} />
            </p>
            <p>
              Image {data.tag && <code>{data.tag}</code>} <Digest digest={data.digest} />
            </p>
          </div>
          <span className="spacer" />
          {data.canManage && failed > 0 && !ACTIVE.has(data.state) && (
            <button type="button" className="btn" disabled={retry.isPending} onClick={() => retry.mutate({ id })}>
              Retry {failed} failed tile{failed === 1 ? "" : "s"}
            </button>
          )}
          {data.canManage && (data.state === "running" || data.state === "submitting") && (
            <button type="button" className="btn" onClick={() => setConfirmCancel(true)}>
              Cancel request
            </button>
          )}
        </div>
        {data.state === "submitting" && data.lastError && (
          <div className="alert bad" role="status">
            The cluster could not take the Job yet (attempt {data.submitAttempts}): {data.lastError}. Retrying <Ago at={data.nextAttemptAt} />; nothing is lost.
          </div>
        )}
        {data.message && data.state === "failed" && (
          <div className="alert bad" role="status">
            {data.message}
          </div>
        )}
        {(retry.error ?? cancel.error) && (
          <div className="alert bad" role="alert">
            {(retry.error ?? cancel.error)!.message}
          </div>
        )}
        <ProgressBar value={data.progress} label="Overall progress" />
        <p className="row" style={{ marginTop: 6 }} aria-label="Tiles by state">
          <strong>{Math.round(data.progress * 100)} %</strong>
          {(Object.keys(TASK_COLOURS) as TaskStateName[])
            .filter((s) => data.counts[s] > 0)
            .map((s) => (
              <Badge key={s} tone={taskTone[s]}>
                {data.counts[s]} {s}
              </Badge>
            ))}
        </p>
      </section>
      <section className="panel" aria-labelledby="tiles-map-heading">
        <h2 id="tiles-map-heading">Tiles</h2>
        <MapView aria-label="Request map" bounds={bounds} layers={layers} onFeatureClick={(_, f) => setSelected(Number(f.properties.index))}>
          <MapLegend title="Tile state" items={(Object.keys(TASK_COLOURS) as TaskStateName[]).map((s) => ({ label: s, color: TASK_COLOURS[s] }))} />
        </MapView>
        {outputLayer && (
          <div className="row" style={{ marginTop: 8 }}>
            <label className="row" style={{ fontWeight: 400, margin: 0 }}>
              <input type="checkbox" checked={showOutputs} onChange={(e) => setShowOutputs(e.target.checked)} /> Show outputs (true colour: B04, B03, B02 at 0 to 3 000)
            </label>
            <label htmlFor="output-opacity" style={{ fontWeight: 400, margin: "0 0 0 12px" }}>
              Opacity
            </label>
            <input id="output-opacity" type="range" min={0} max={1} step={0.05} value={opacity} disabled={!showOutputs} onChange={(e) => setOpacity(Number(e.target.value))} />
          </div>
        )}
      </section>
      {/* Keyed on the tile and whether it runs: a new attempt or another tile starts a fresh stream. */}
      {task && <TaskLogs key={`${task.index}:${task.state === "running" || task.state === "retrying"}`} requestId={id} task={task} onClose={() => setSelected(null)} />}
      {/* Keyed on the finished count: each newly finished tile lists the outputs again. */}
      {data.counts.succeeded > 0 && <RequestOutputs key={data.counts.succeeded} id={id} />}
      <section className="panel" aria-labelledby="tiles-table-heading">
        <h2 id="tiles-table-heading">Tiles by state</h2>
        <table className="data" aria-label="Tiles">
          <thead>
            <tr>
              <th scope="col">Tile</th>
              <th scope="col">Scenes</th>
              <th scope="col">State</th>
              <th scope="col" style={{ width: "24%" }}>
                Progress
              </th>
              <th scope="col">Attempts</th>
              <th scope="col">Why</th>
              <th scope="col">Logs</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((t) => (
              <tr key={t.index} aria-selected={t.index === selected}>
                <th scope="row" className="mono">
                  {t.taskId}
                </th>
                <td>{t.scenes}</td>
                <td>
                  <Badge tone={taskTone[t.state]}>{t.state}</Badge>
                </td>
                <td>
                  <ProgressBar value={t.state === "succeeded" ? 1 : t.progress} label={`Progress of ${t.taskId}`} />
                  {t.stage && t.state === "running" && <span className="muted">{t.stage}</span>}
                </td>
                <td>{t.attempts}</td>
                <td>{t.reason}</td>
                <td>
                  <button type="button" className="btn" onClick={() => setSelected(t.index)} disabled={t.attempts === 0 && !t.lastLog}>
                    Logs
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {ordered.length > ROWS && (
          <button type="button" className="btn" style={{ marginTop: 8 }} onClick={() => setShowAll(!showAll)}>
            {showAll ? `Show the first ${ROWS}` : `Show all ${ordered.length} tiles`}
          </button>
        )}
      </section>
      <Dialog open={confirmCancel} title="Cancel this request?" onClose={() => setConfirmCancel(false)}>
        <p>Running tiles are stopped and their Job is deleted. Finished tiles and their outputs stay.</p>
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <button type="button" className="btn" onClick={() => setConfirmCancel(false)}>
            Keep running
          </button>
          <button type="button" className="btn primary" disabled={cancel.isPending} onClick={() => cancel.mutate({ id })}>
            Cancel request
          </button>
        </div>
      </Dialog>
    </>
  );
}

/** Failed and running tiles first: what people look for. */
function rank(state: TaskStateName): number {
  return ["failed", "retrying", "running", "pending", "cancelled", "succeeded"].indexOf(state);
}

type TaskRow = { index: number; taskId: string; state: TaskStateName; attempts: number; lastLog: string | null };

/** A tile's log, streamed while its attempt runs (Server-Sent Events from the logs route). */
function TaskLogs({ requestId, task, onClose }: { requestId: string; task: TaskRow; onClose: () => void }) {
  const [lines, setLines] = useState<string[]>([]);
  const [status, setStatus] = useState<"streaming" | "ended" | "failed">("streaming");
  const boxRef = useRef<HTMLPreElement>(null);
  const live = task.state === "running" || task.state === "retrying";
  useEffect(() => {
    const source = new EventSource(`/api/requests/${requestId}/tasks/${task.index}/logs${live ? "?follow=1" : ""}`);
    const buffer: string[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    // Batch lines into one render per 100 ms: a chatty worker must not re-render per line.
    const flush = () => {
      timer = null;
      setLines((prev) => [...prev, ...buffer.splice(0)].slice(-2000));
    };
    source.onmessage = (e) => {
      buffer.push(e.data as string);
      timer ??= setTimeout(flush, 100);
    };
    source.addEventListener("end", () => (source.close(), flush(), setStatus("ended")));
    source.addEventListener("failure", () => (source.close(), flush(), setStatus("failed")));
    source.onerror = () => {
      // The server closed after "end", or the request failed: EventSource would reconnect forever.
      source.close();
      setStatus((s) => (s === "streaming" ? "failed" : s));
    };
    return () => {
      source.close();
      if (timer) clearTimeout(timer);
    };
  }, [requestId, task.index, live]);
  useEffect(() => {
    const box = boxRef.current;
    if (box) box.scrollTop = box.scrollHeight;
  }, [lines]);

  return (
    <section className="panel" aria-labelledby="logs-heading">
      <div className="row">
        <h2 id="logs-heading" style={{ margin: 0 }}>
          Logs of <span className="mono">{task.taskId}</span>
        </h2>
        <Badge tone={taskTone[task.state]}>{task.state}</Badge>
        <span className="muted">{status === "streaming" ? "streaming…" : status === "failed" ? "the log stream stopped" : `${lines.length} lines`}</span>
        <span className="spacer" />
        <button type="button" className="btn" onClick={onClose}>
          Close logs
        </button>
      </div>
      <pre ref={boxRef} className="diff" style={{ maxHeight: 320, overflowY: "auto", whiteSpace: "pre-wrap" }} aria-label="Log lines" tabIndex={0}>
        {lines.length ? lines.join("\n") : status === "streaming" ? "Waiting for the first lines…" : "No log lines (the attempt has not started, or its pod is gone)."}
      </pre>
    </section>
  );
}

/** Downloads of the finished tiles, their STAC items, and how to load or recompute them. */
function RequestOutputs({ id }: { id: string }) {
  const trpc = useTRPC();
  // Fresh on every mount: the parent remounts it when another tile finishes.
  const outputs = useQuery({ ...trpc.requests.outputs.queryOptions({ id }), staleTime: 0, refetchOnMount: "always" });
  const [copied, setCopied] = useState<string | null>(null);
  const copy = (what: string, text: string) => void navigator.clipboard?.writeText(text).then(() => setCopied(what), () => setCopied(null));
  if (outputs.error) return <QueryError error={outputs.error} />;
  if (!outputs.data) return <Loading what="outputs" />;
  const { tasks, snippet, commands } = outputs.data;
  return (
    <section className="panel" aria-labelledby="outputs-heading">
      <h2 id="outputs-heading">Outputs</h2>
      <table className="data" aria-label="Output files">
        <thead>
          <tr>
            <th scope="col">Tile</th>
            <th scope="col">Bands (Cloud-Optimized GeoTIFF)</th>
            <th scope="col">STAC item</th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={t.task}>
              <th scope="row" className="mono">
                {t.task} {t.status !== "finished" && <Badge tone="warn">{t.status}</Badge>}
              </th>
              <td>
                <span className="row" style={{ gap: 6 }}>
                  {t.files
                    .filter((f) => f.kind === "band")
                    .map((f) => (
                      <a key={f.key} href={f.url} download={f.name} title={`${f.name}, ${(f.size / 1e6).toFixed(1)} MB`} aria-label={`Download ${f.band} of ${t.task}`}>
                        {f.band}
                      </a>
                    ))}
                </span>
              </td>
              <td>{t.stacItem ? <a href={t.stacItem.url}>item JSON</a> : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {snippet && (
        <>
          <div className="row" style={{ marginTop: 12 }}>
            <h3 style={{ margin: 0 }}>Load in Python</h3>
            <button type="button" className="btn" onClick={() => copy("snippet", snippet)}>
              {copied === "snippet" ? "Copied" : "Copy"}
            </button>
          </div>
          <pre className="diff" aria-label="Python snippet">
            {snippet}
          </pre>
        </>
      )}
      {commands.length > 0 && (
        <>
          <div className="row" style={{ marginTop: 12 }}>
            <h3 style={{ margin: 0 }}>Recompute a tile</h3>
            <button type="button" className="btn" onClick={() => copy("command", commands[0]!.command)}>
              {copied === "command" ? "Copied" : "Copy"}
            </button>
          </div>
          <pre className="diff" aria-label="Recompute command">
            {commands[0]!.command}
          </pre>
        </>
      )}
    </section>
  );
}
