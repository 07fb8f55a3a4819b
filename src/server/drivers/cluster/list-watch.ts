import "server-only";
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import { KubernetesApiError, toKubernetesApiError } from "./api-error";

/**
 * List-then-watch of one collection, reporting only that something changed (consumers re-read).
 * The protocol is the one client-go's reflector follows (tools/cache/reflector.go ListAndWatch):
 *
 * - list once to learn the collection's resourceVersion, then watch from it;
 * - remember the resourceVersion of every event, BOOKMARKs included (allowWatchBookmarks=true lets a
 *   quiet watch advance too), and resume from it when the stream ends, so nothing is missed or repeated;
 * - when the server says the version is gone (410 Expired/Gone, as an HTTP status or as an ERROR event
 *   in a 200 stream, which is what kube-apiserver's watch cache sends), relist: changes may have been
 *   missed, so report one;
 * - on errors (network, 5xx, 401), report and retry with exponential backoff, from the same version.
 *
 * It drives client-node's `Watch` (src/watch.ts) for the stream itself: that class does auth, TLS and
 * line framing. client-node's `ListWatch` informer (src/cache.ts) is not used because it stops for
 * good on any error other than 410 or a client timeout (doneHandler only calls the error callbacks),
 * never asks for bookmarks, keeps a full object cache we do not need, and can open a new watch after
 * stop() when stop lands during its list or backoff delay.
 */

export interface ListWatchOptions {
  kc: KubeConfig;
  /** For messages: "pods in namespace piksel". */
  what: string;
  /** Collection path, e.g. /api/v1/namespaces/piksel/pods. */
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
  /** A fresh list of the collection; resolves with its metadata.resourceVersion. */
  list(): Promise<string>;
  /** A change: with the changed object from a watch event, without one after a (re)list. */
  onChange(object?: WatchedObject): void;
  onError(error: KubernetesApiError): void;
  backoff?: { initialMs: number; maxMs: number };
}

/** What the loop passes on of a watched object: enough to tell which one changed. */
export interface WatchedObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
}

type Outcome = { kind: "closed"; productive: boolean } | { kind: "expired" };

const isGone = (err: unknown) => {
  const e = err as { statusCode?: unknown; code?: unknown; status?: unknown };
  return e?.statusCode === 410 || e?.code === 410 || e?.status === 410;
};

/** Starts the loop; the returned function stops it and aborts the open stream. */
export function startListWatch(opts: ListWatchOptions): () => void {
  const server = opts.kc.getCurrentCluster()?.server ?? "(no cluster)";
  const backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
  let stopped = false;
  let controller: AbortController | undefined;
  let cancelSleep: (() => void) | undefined;
  let resourceVersion: string | null = null;
  let failures = 0;

  const delay = (n: number) => {
    const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, n - 1));
    return base * (0.8 + Math.random() * 0.4);
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      cancelSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  function watchOnce(from: string): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      let settled = false;
      let productive = false;
      let expired = false;
      let streamError: KubernetesApiError | undefined;
      // Watch aborts a stream that stays silent for 30 s (its private requestTimeoutMs) with a
      // TimeoutError, which also catches half-open connections. kube-apiserver sends bookmarks only
      // about once a minute, so a quiet watch is reopened from its resourceVersion every 30 s: one
      // cheap request, nothing missed.
      const watch = new Watch(opts.kc);
      // Like client-go, ask the server to end the watch after 5-10 minutes so connections get
      // rebalanced across API servers; resuming costs one request and no relist.
      const timeoutSeconds = Math.floor(300 + Math.random() * 300);
      const query: Record<string, string | number | boolean> = { resourceVersion: from, allowWatchBookmarks: true, timeoutSeconds };
      if (opts.fieldSelector) query.fieldSelector = opts.fieldSelector;
      if (opts.labelSelector) query.labelSelector = opts.labelSelector;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        fn();
      };
      watch
        .watch(
          opts.path,
          query,
          (type: string, object: WatchedObject & { code?: number; message?: string; reason?: string }) => {
            if (settled) return;
            if (type === "ERROR") {
              // A Status in the stream; the server ends the stream after it. 410 means relist.
              if (object?.code === 410) expired = true;
              else streamError = new KubernetesApiError(`Kubernetes API ${server}: watch ${opts.what}: ERROR event ${object?.code ?? ""} ${object?.reason ?? ""}: ${object?.message ?? ""}`, object?.code, object?.reason);
              controller?.abort();
              return;
            }
            const rv = object?.metadata?.resourceVersion;
            if (rv) resourceVersion = rv;
            productive = true;
            failures = 0;
            if (type !== "BOOKMARK") opts.onChange(object);
          },
          (err: unknown) => {
            if (expired) return finish(() => resolve({ kind: "expired" }));
            if (streamError) return finish(() => reject(streamError));
            if (!err || stopped) return finish(() => resolve({ kind: "closed", productive }));
            // The inactivity timer fired: reopen from the last version at once, as client-node's own
            // ListWatch does (src/cache.ts doneHandler).
            if ((err as Error).name === "TimeoutError") return finish(() => resolve({ kind: "closed", productive: true }));
            finish(() => reject(err));
          },
        )
        .then((c) => {
          controller = c;
          // stop() may have run while the request was in flight, before the controller existed.
          if (stopped || settled) c.abort();
        })
        .catch((err: unknown) => finish(() => reject(err)));
    });
  }

  async function run() {
    while (!stopped) {
      try {
        if (resourceVersion === null) {
          const rv = await opts.list();
          if (stopped) return;
          resourceVersion = rv;
          failures = 0;
          // A (re)list may hide changes made while we were not watching: report one.
          opts.onChange();
        }
        const outcome = await watchOnce(resourceVersion);
        controller = undefined;
        if (stopped) return;
        if (outcome.kind === "expired") {
          resourceVersion = null;
          continue;
        }
        // A stream that ends without delivering anything, again and again (a proxy cutting it, a
        // server shutting down), is retried with backoff; the first retry is immediate.
        if (!outcome.productive) {
          failures += 1;
          if (failures > 1) await sleep(delay(failures - 1));
        }
      } catch (err) {
        controller = undefined;
        if (stopped) return;
        if (isGone(err)) {
          resourceVersion = null;
          continue;
        }
        failures += 1;
        opts.onError(toKubernetesApiError(err, server, resourceVersion === null ? `list ${opts.what}` : `watch ${opts.what}`));
        await sleep(delay(failures));
      }
    }
  }

  void run();
  return () => {
    stopped = true;
    controller?.abort();
    cancelSleep?.();
  };
}
