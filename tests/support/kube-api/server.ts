import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { jobSpecCauses, startJobController, type JobControllerOptions, type Kubelet } from "./jobs";
import { applyPatch } from "./patch";
import {
  apiVersionOf,
  coreResourceList,
  coreVersions,
  findResource,
  group as groupDoc,
  groupList,
  groupResourceList,
  resourceForObject,
  resourceTypes,
  type ResourceType,
} from "./resources";
import { parseFieldSelector, parseLabelSelector, type Matcher } from "./selectors";
import {
  StatusError,
  badRequest,
  expired,
  invalid,
  methodNotAllowed,
  notFound,
  outage,
  success,
  tooLargeResourceVersion,
  unauthorized,
  unknownResource,
  type Status,
} from "./status";
import { Store, type EventType, type KubeObject, type StoredEvent } from "./store";

/**
 * A Kubernetes API server for tests, speaking the REST and watch protocol closely enough for
 * @kubernetes/client-node and kubectl-like clients: discovery, namespaces, pods (with logs),
 * ConfigMaps, batch/v1 Jobs (with the batch validation rules of ./jobs.ts) and the Flux
 * Kustomization custom resource, list/get/create/update/patch/delete, watches with
 * resourceVersion resume, bookmarks and 410 Expired, bearer-token auth, and `Status` objects for every
 * failure. There is no scheduler, kubelet or controller unless asked for: tests play them through
 * the controls (`put`, `mutate`, `appendLog`), or turn on the Job controller and kubelet of ./jobs.ts
 * (option `jobController`, scripted through `kubelet`), and break the server on purpose
 * (`dropWatches`, `compact`, `expireWatches`, `failNext`, also after the write). Not implemented:
 * server-side apply, protobuf, admission webhooks, field managers, dry runs, OpenAPI schema
 * validation, immutability of Job spec fields on update.
 */

export interface KubeApiServerOptions {
  /** Events kept for resuming watches (the watch cache's window); older resourceVersions get 410. */
  historyLimit?: number;
  /** How a watch from a compacted resourceVersion is refused (see KubeApiServer.expiredWatch). */
  expiredWatch?: "event" | "http";
  /** Sends a BOOKMARK to watches that allow them at this period; default: only on bookmark(). */
  bookmarkIntervalMs?: number;
  /** Namespaces that exist from the start. */
  namespaces?: string[];
  /** Reported by /version. */
  gitVersion?: string;
  /** Runs a Job controller and a kubelet for Indexed Jobs (./jobs.ts); off by default, tests then play them. */
  jobController?: boolean | JobControllerOptions;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  watch: boolean;
  status?: number;
}

export interface FailureRule {
  /** HTTP status of the injected failure: 503 (default), 500 or 429. */
  code?: number;
  /** Which requests fail; default: every API request. */
  match?: (req: RecordedRequest) => boolean;
  /**
   * Carry the request out, then answer with the failure: a response lost on its way back (a proxy
   * timing out after the write reached etcd). A client that retries a create then meets 409.
   */
  after?: boolean;
}

export interface KubeApiServer {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** A kubeconfig (temporary file) for this server: bearer token, `insecure-skip-tls-verify: true`. */
  readonly kubeconfigPath: string;
  readonly token: string;
  /**
   * "event": HTTP 200 then an ERROR event carrying a 410 Expired Status, as kube-apiserver's watch
   * cache does (storage/cacher/cacher.go Watch: "once we have passed authn/authz/admission ... other
   * errors must fail with a watch event of type ERROR"). "http": an HTTP 410 response, which clients
   * also meet (older servers, some proxies). Both must make a client relist.
   */
  expiredWatch: "event" | "http";
  /** Every API request in order, with the status it was answered with. */
  readonly requests: RecordedRequest[];
  readonly resourceVersion: number;

  /**
   * Creates or replaces an object as a controller would, status included (server defaults apply on
   * creation; uid, creationTimestamp and metadata fields left out are kept); returns it as stored.
   */
  put(obj: KubeObjectInput): KubeObject;
  /** Reads, changes and writes back one object (one MODIFIED event). */
  mutate(kind: string, namespace: string | undefined, name: string, change: (obj: KubeObject) => void): KubeObject;
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  list(kind: string, namespace?: string): KubeObject[];
  remove(kind: string, namespace: string | undefined, name: string): void;
  /** Appends lines to a container's log (followers receive them at once). */
  appendLog(namespace: string, pod: string, container: string, text: string): void;

  /** Ends every open watch (abrupt: resets the sockets instead); returns how many were open. */
  dropWatches(opts?: { abrupt?: boolean }): number;
  /** Sends an ERROR 410 Expired event on every open watch, ends them and compacts the history. */
  expireWatches(): number;
  /** Forgets the event history: only clients already at the current resourceVersion can resume. */
  compact(): void;
  /** Sends a BOOKMARK to every watch that allowed bookmarks; returns how many got one. */
  bookmark(): number;
  /** Fails the next `count` matching requests with a Status (an outage). */
  failNext(count: number, rule?: FailureRule): void;
  /** Watches currently open (optionally only those of one resource, e.g. "pods"). */
  openWatches(resource?: string): number;
  /** The kubelet's controls when the server runs a Job controller (option jobController). */
  readonly kubelet: Kubelet | undefined;
  close(): Promise<void>;
}

/** An object for put(): server-assigned metadata (uid, resourceVersion, ...) may be left out. */
export interface KubeObjectInput {
  apiVersion: string;
  kind: string;
  metadata: Partial<KubeObject["metadata"]> & { name: string };
  [key: string]: unknown;
}

interface WatchConnection {
  resource: ResourceType;
  allowBookmarks: boolean;
  res: http.ServerResponse;
  send(type: EventType | "BOOKMARK" | "ERROR", object: unknown): void;
  end(abrupt?: boolean): void;
}

interface LogFollower {
  key: string;
  namespace: string;
  pod: string;
  container: string;
  res: http.ServerResponse;
  timestamps: boolean;
}

const nameRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const store = new Store(opts.historyLimit ?? 500);
  const token = randomBytes(16).toString("hex");
  const requests: RecordedRequest[] = [];
  const watches = new Set<WatchConnection>();
  const logs = new Map<string, { time: string; line: string }[]>();
  const followers = new Set<LogFollower>();
  const failures: { remaining: number; code: number; after: boolean; match: (r: RecordedRequest) => boolean }[] = [];
  /** Requests carried out but answered with an injected failure (FailureRule.after). */
  const failAfter = new WeakMap<RecordedRequest, number>();
  const sockets = new Set<import("node:net").Socket>();
  const gitVersion = opts.gitVersion ?? "v1.33.1";
  let address = "127.0.0.1:0";

  const byKind = (kind: string): ResourceType => {
    const r = resourceTypes.find((t) => t.kind === kind);
    if (!r) throw new Error(`the test API server has no kind ${kind} (known: ${resourceTypes.map((t) => t.kind).join(", ")})`);
    return r;
  };

  for (const ns of opts.namespaces ?? ["default", "kube-system", "flux-system"]) {
    store.create(byKind("Namespace"), { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { "kubernetes.io/metadata.name": ns } }, spec: { finalizers: ["kubernetes"] }, status: { phase: "Active" } });
  }

  // --- object writes shared by HTTP handlers and controls -----------------------------------------

  function withDefaults(r: ResourceType, obj: KubeObject): KubeObject {
    if (r.kind === "Job") {
      const spec = (obj.spec ??= {}) as Record<string, unknown>;
      if (spec.completionMode !== "Indexed") spec.completions ??= 1;
      spec.parallelism ??= 1;
      // pkg/apis/batch/v1 defaults.go: no global limit when retries are counted per index.
      spec.backoffLimit ??= spec.backoffLimitPerIndex !== undefined ? 2147483647 : 6;
      spec.podReplacementPolicy ??= spec.podFailurePolicy ? "Failed" : "TerminatingOrFailed";
      spec.completionMode ??= "NonIndexed";
      spec.suspend ??= false;
      // The job controller selects its pods by the Job's uid; the labels are what kubectl shows.
      const uid = obj.metadata.uid!;
      spec.selector ??= { matchLabels: { "batch.kubernetes.io/controller-uid": uid } };
      const template = (spec.template ??= {}) as { metadata?: { labels?: Record<string, string> } };
      template.metadata ??= {};
      template.metadata.labels = {
        ...template.metadata.labels,
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": obj.metadata.name,
        "controller-uid": uid,
        "job-name": obj.metadata.name,
      };
      obj.metadata.labels = { "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": obj.metadata.name, "controller-uid": uid, "job-name": obj.metadata.name, ...obj.metadata.labels };
    }
    if (r.kind === "Pod") {
      obj.spec = { restartPolicy: "Always", terminationGracePeriodSeconds: 30, dnsPolicy: "ClusterFirst", ...(obj.spec as object) };
    }
    return obj;
  }

  function validate(r: ResourceType, obj: KubeObject) {
    const name = obj.metadata.name;
    const causes: { field: string; message: string }[] = [];
    if (!nameRe.test(name) || name.length > 253) {
      causes.push({ field: "metadata.name", message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` });
    }
    if (r.kind === "Job") {
      const spec = obj.spec as { template?: { spec?: { containers?: unknown[]; restartPolicy?: string } }; completionMode?: string; completions?: number } | undefined;
      const podSpec = spec?.template?.spec;
      if (!podSpec?.containers?.length) causes.push({ field: "spec.template.spec.containers", message: "Required value" });
      if (!["Never", "OnFailure"].includes(podSpec?.restartPolicy ?? "")) {
        causes.push({ field: "spec.template.spec.restartPolicy", message: `Unsupported value: "${podSpec?.restartPolicy ?? "Always"}": supported values: "OnFailure", "Never"` });
      }
      if (spec?.completionMode === "Indexed" && spec.completions === undefined) causes.push({ field: "spec.completions", message: "Required value: when completion mode is Indexed" });
      causes.push(...jobSpecCauses(obj));
    }
    if (r.kind === "Pod" && !(obj.spec as { containers?: unknown[] } | undefined)?.containers?.length) causes.push({ field: "spec.containers", message: "Required value" });
    if (causes.length) throw invalid(r, name, causes);
  }

  /** An immutable ConfigMap keeps its data (core validation ValidateConfigMapUpdate); metadata may change. */
  function checkImmutable(r: ResourceType, prev: KubeObject, next: KubeObject) {
    if (r.kind !== "ConfigMap" || prev.immutable !== true) return;
    if (next.immutable !== true) throw invalid(r, prev.metadata.name, [{ field: "immutable", message: "Forbidden: field is immutable when `immutable` is set" }]);
    if (JSON.stringify(next.data ?? {}) !== JSON.stringify(prev.data ?? {}) || JSON.stringify(next.binaryData ?? {}) !== JSON.stringify(prev.binaryData ?? {})) {
      throw invalid(r, prev.metadata.name, [{ field: "data", message: "Forbidden: field is immutable when `immutable` is set" }]);
    }
  }

  /** Garbage collection of the dependents of a deleted owner (pkg/controller/garbagecollector). */
  function dependentsOf(uid: string): KubeObject[] {
    return store.all().filter((o) => o.metadata.ownerReferences?.some((ref) => ref.uid === uid));
  }

  function removeObject(r: ResourceType, namespace: string | undefined, name: string, policy?: string): KubeObject | Status {
    const obj = store.get(r, namespace, name);
    if (!obj) throw notFound(r, name);
    const propagation = policy ?? r.defaultPropagation;
    if (!["Orphan", "Background", "Foreground"].includes(propagation)) {
      throw badRequest(`DeleteOptions.propagationPolicy: Unsupported value: "${propagation}": supported values: "Foreground", "Background", "Orphan"`);
    }
    const uid = obj.metadata.uid!;
    const cascade = () => {
      for (const d of dependentsOf(uid)) {
        const dr = resourceForObject(d);
        if (dr && store.get(dr, d.metadata.namespace, d.metadata.name)) removeObject(dr, d.metadata.namespace, d.metadata.name, "Background");
      }
    };
    if (propagation === "Foreground") {
      // The owner stays, marked, until its dependents are gone (then the GC removes the finalizer).
      obj.metadata.deletionTimestamp = now();
      obj.metadata.finalizers = [...(obj.metadata.finalizers ?? []), "foregroundDeletion"];
      const marked = store.replace(r, obj);
      setImmediate(() => {
        cascade();
        if (store.get(r, namespace, name)) store.remove(r, namespace, name);
      });
      return marked;
    }
    if (propagation === "Orphan") {
      for (const d of dependentsOf(uid)) {
        const dr = resourceForObject(d)!;
        d.metadata.ownerReferences = d.metadata.ownerReferences!.filter((ref) => ref.uid !== uid);
        if (!d.metadata.ownerReferences.length) delete d.metadata.ownerReferences;
        store.replace(dr, d);
      }
    }
    if (r.kind === "Namespace") {
      for (const t of resourceTypes.filter((t) => t.namespaced)) for (const o of store.list(t, name)) store.remove(t, name, o.metadata.name);
    }
    const deleted = store.remove(r, namespace, name);
    if (propagation === "Background") setImmediate(cascade);
    return r.returnDeletedObject ? deleted : success(r, name, uid);
  }

  // --- watches ------------------------------------------------------------------------------------

  /** How one stored event looks to a watch with selectors: objects enter (ADDED) and leave (DELETED). */
  function translate(e: StoredEvent, matches: Matcher): { type: EventType; object: KubeObject } | undefined {
    if (e.type === "MODIFIED") {
      const before = e.prev ? matches(e.prev) : false;
      const after = matches(e.object);
      if (before && after) return { type: "MODIFIED", object: e.object };
      if (after) return { type: "ADDED", object: e.object };
      if (before) return { type: "DELETED", object: e.object };
      return undefined;
    }
    return matches(e.object) ? { type: e.type, object: e.object } : undefined;
  }

  function serveWatch(req: http.IncomingMessage, res: http.ServerResponse, r: ResourceType, namespace: string | undefined, q: URLSearchParams, rec: RecordedRequest) {
    const label = parseLabelSelector(q.get("labelSelector"));
    const field = parseFieldSelector(q.get("fieldSelector"), r.fields);
    const matches: Matcher = (o) => (!namespace || (o.metadata as { namespace?: string }).namespace === namespace) && label(o) && field(o);
    const rvParam = q.get("resourceVersion") ?? "";
    let initial: { type: EventType; object: KubeObject }[];
    let refusal: Status | undefined;
    if (rvParam === "" || rvParam === "0") {
      // No resourceVersion, or "0" (any): the current state as synthetic ADDED events, then changes.
      initial = store.list(r, namespace).filter(matches).map((object) => ({ type: "ADDED", object }));
    } else {
      const rv = Number(rvParam);
      if (!/^\d+$/.test(rvParam)) throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a valid resource version`);
      const since = store.eventsSince(rv);
      if (since === "expired") {
        const status = expired(rv, store.oldestResumable).status;
        if (server.expiredWatch === "http") throw new StatusError(status);
        refusal = status;
        initial = [];
      } else if (since === "future") {
        refusal = tooLargeResourceVersion(rv, store.resourceVersion).status;
        initial = [];
      } else {
        initial = since.filter((e) => e.resource === r).flatMap((e) => translate(e, matches) ?? []);
      }
    }
    rec.status = 200;
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache, private", "transfer-encoding": "chunked" });
    res.flushHeaders();
    const conn: WatchConnection = {
      resource: r,
      allowBookmarks: ["true", "1"].includes(q.get("allowWatchBookmarks") ?? ""),
      res,
      send(type, object) {
        if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
      },
      end(abrupt) {
        watches.delete(conn);
        unsubscribe();
        clearTimeout(timer);
        if (abrupt) res.socket?.destroy();
        else res.end();
      },
    };
    let unsubscribe = () => {};
    let timer: NodeJS.Timeout | undefined;
    if (refusal) {
      conn.send("ERROR", refusal);
      res.end();
      return;
    }
    for (const e of initial) conn.send(e.type, e.object);
    unsubscribe = store.subscribe((e) => {
      if (e.resource !== r) return;
      const t = translate(e, matches);
      if (t) conn.send(t.type, t.object);
    });
    watches.add(conn);
    const timeout = Number(q.get("timeoutSeconds") ?? 0);
    if (timeout > 0) timer = setTimeout(() => conn.end(), timeout * 1000);
    // The response's close, not the request's: an IncomingMessage closes once its (empty) body is read.
    res.on("close", () => conn.end());
  }

  function sendBookmarks(): number {
    let n = 0;
    for (const w of watches) {
      if (!w.allowBookmarks) continue;
      w.send("BOOKMARK", { kind: w.resource.kind, apiVersion: apiVersionOf(w.resource), metadata: { resourceVersion: String(store.resourceVersion) } });
      n++;
    }
    return n;
  }
  const bookmarkTimer = opts.bookmarkIntervalMs ? setInterval(sendBookmarks, opts.bookmarkIntervalMs) : undefined;

  // --- pod logs -----------------------------------------------------------------------------------

  type ContainerState = { running?: unknown; terminated?: unknown; waiting?: { reason?: string } };
  function containerState(pod: KubeObject, container: string): ContainerState | undefined {
    const statuses = (pod.status as { containerStatuses?: { name: string; state?: ContainerState }[]; initContainerStatuses?: { name: string; state?: ContainerState }[] } | undefined) ?? {};
    return [...(statuses.containerStatuses ?? []), ...(statuses.initContainerStatuses ?? [])].find((s) => s.name === container)?.state;
  }
  const podFinished = (pod: KubeObject) => ["Succeeded", "Failed"].includes((pod.status as { phase?: string } | undefined)?.phase ?? "");

  function logLine(entry: { time: string; line: string }, timestamps: boolean) {
    return timestamps ? `${entry.time} ${entry.line}\n` : `${entry.line}\n`;
  }

  function serveLog(req: http.IncomingMessage, res: http.ServerResponse, namespace: string, podName: string, q: URLSearchParams, rec: RecordedRequest) {
    const podType = byKind("Pod");
    const pod = store.get(podType, namespace, podName);
    if (!pod) throw notFound(podType, podName);
    const containers = ((pod.spec as { containers?: { name: string }[] } | undefined)?.containers ?? []).map((c) => c.name);
    const initContainers = ((pod.spec as { initContainers?: { name: string }[] } | undefined)?.initContainers ?? []).map((c) => c.name);
    const defaultContainer = pod.metadata.annotations?.["kubectl.kubernetes.io/default-container"];
    const container = q.get("container") ?? (containers.length === 1 ? containers[0] : defaultContainer);
    if (!container) throw badRequest(`a container name must be specified for pod ${podName}, choose one of: [${containers.join(" ")}]`);
    if (![...containers, ...initContainers].includes(container)) throw badRequest(`container ${container} is not valid for pod ${podName}`);
    const state = containerState(pod, container);
    if (!state?.running && !state?.terminated) {
      throw badRequest(`container "${container}" in pod "${podName}" is waiting to start: ${state?.waiting?.reason ?? "ContainerCreating"}`);
    }
    const timestamps = ["true", "1"].includes(q.get("timestamps") ?? "");
    const key = `${namespace}/${podName}/${container}`;
    let entries = logs.get(key) ?? [];
    const tail = q.get("tailLines");
    if (tail !== null) entries = Number(tail) > 0 ? entries.slice(-Number(tail)) : [];
    rec.status = 200;
    res.writeHead(200, { "content-type": "text/plain", "transfer-encoding": "chunked" });
    for (const e of entries) res.write(logLine(e, timestamps));
    const follow = ["true", "1"].includes(q.get("follow") ?? "");
    if (!follow || state.terminated || podFinished(pod)) return void res.end();
    res.flushHeaders();
    const f: LogFollower = { key, namespace, pod: podName, container, res, timestamps };
    followers.add(f);
    res.on("close", () => followers.delete(f));
  }

  // A follow ends when its container terminates or its pod goes away, as the kubelet's stream does.
  store.subscribe((e) => {
    if (e.resource.kind !== "Pod") return;
    for (const f of followers) {
      if (f.namespace !== e.object.metadata.namespace || f.pod !== e.object.metadata.name) continue;
      if (e.type === "DELETED" || containerState(e.object, f.container)?.terminated || podFinished(e.object)) {
        followers.delete(f);
        f.res.end();
      }
    }
  });

  // --- HTTP ---------------------------------------------------------------------------------------

  const send = (res: http.ServerResponse, rec: RecordedRequest, code: number, body: unknown) => {
    const injected = failAfter.get(rec);
    if (injected !== undefined) {
      failAfter.delete(rec);
      [code, body] = [injected, outage(injected)];
    }
    rec.status = code;
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };

  const readBody = (req: http.IncomingMessage): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("error", reject);
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (!text.trim()) return resolve(undefined);
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(badRequest(`the body of the request could not be decoded: ${(err as Error).message}`));
        }
      });
    });

  /** A body may omit kind/apiVersion (the URL says them); a different one is refused. */
  function checkType(r: ResourceType, body: KubeObject) {
    body.kind ??= r.kind;
    body.apiVersion ??= apiVersionOf(r);
    if (body.kind !== r.kind || body.apiVersion !== apiVersionOf(r)) {
      throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(r)})`);
    }
  }

  function listKind(r: ResourceType) {
    return `${r.kind}List`;
  }

  /** Built-in list items carry no kind/apiVersion; unstructured (custom resource) items do. */
  const asItem = (r: ResourceType, o: KubeObject) => {
    if (r.custom) return o;
    const { kind: _k, apiVersion: _a, ...rest } = o;
    return rest;
  };

  function serveList(res: http.ServerResponse, r: ResourceType, namespace: string | undefined, q: URLSearchParams, rec: RecordedRequest) {
    const label = parseLabelSelector(q.get("labelSelector"));
    const field = parseFieldSelector(q.get("fieldSelector"), r.fields);
    let items = store.list(r, namespace).filter((o) => label(o) && field(o));
    // Pages by offset; a real server pages a consistent snapshot (etcd revision of the first page).
    const limit = Number(q.get("limit") ?? 0);
    const offset = q.get("continue") ? Number(Buffer.from(q.get("continue")!, "base64url").toString()) : 0;
    const metadata: Record<string, unknown> = { resourceVersion: String(store.resourceVersion) };
    items = items.slice(offset);
    if (limit > 0 && items.length > limit) {
      metadata.continue = Buffer.from(String(offset + limit)).toString("base64url");
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    send(res, rec, 200, { kind: listKind(r), apiVersion: apiVersionOf(r), metadata, items: items.map((o) => asItem(r, o)) });
  }

  async function serveCollection(req: http.IncomingMessage, res: http.ServerResponse, r: ResourceType, namespace: string | undefined, q: URLSearchParams, rec: RecordedRequest) {
    if (req.method === "GET") {
      if (["1", "true"].includes(q.get("watch") ?? "")) return serveWatch(req, res, r, namespace, q, rec);
      return serveList(res, r, namespace, q, rec);
    }
    if (req.method === "POST") {
      if (r.namespaced && !namespace) throw methodNotAllowed();
      const body = (await readBody(req)) as KubeObject | undefined;
      if (!body || typeof body !== "object") throw badRequest("the body of the request was empty");
      checkType(r, body);
      body.metadata ??= { name: "" };
      if (r.namespaced) {
        if (body.metadata.namespace && body.metadata.namespace !== namespace) {
          throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
        }
        body.metadata.namespace = namespace;
        // NamespaceLifecycle admission: no new content in missing or terminating namespaces.
        const ns = store.get(byKind("Namespace"), undefined, namespace!);
        if (!ns) throw notFound(byKind("Namespace"), namespace!);
        if (ns.metadata.deletionTimestamp) {
          throw new StatusError({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `${r.name} "${body.metadata.name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, reason: "Forbidden", code: 403 });
        }
      }
      if (!body.metadata.name && body.metadata.generateName) body.metadata.name = `${body.metadata.generateName}${randomBytes(4).toString("hex").slice(0, 5)}`;
      if (!body.metadata.name) throw invalid(r, "", [{ field: "metadata.name", message: "Required value: name or generateName is required" }]);
      for (const k of ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"] as const) delete body.metadata[k];
      validate(r, body);
      // The status of a new object is the server's, not the client's (registry strategies' PrepareForCreate).
      if (r.statusSubresource) {
        if (r.kind === "Pod") body.status = { phase: "Pending", qosClass: "BestEffort" };
        else if (r.kind === "Namespace") body.status = { phase: "Active" };
        else delete body.status;
      }
      body.metadata.uid = randomUUID();
      return send(res, rec, 201, store.create(r, withDefaults(r, body)));
    }
    throw methodNotAllowed();
  }

  async function serveItem(req: http.IncomingMessage, res: http.ServerResponse, r: ResourceType, namespace: string | undefined, name: string, sub: string | undefined, q: URLSearchParams, rec: RecordedRequest) {
    if (sub === "log") {
      if (r.kind !== "Pod" || req.method !== "GET") throw methodNotAllowed();
      return serveLog(req, res, namespace!, name, q, rec);
    }
    if (sub !== undefined && sub !== "status") throw unknownResource();
    const current = () => {
      const obj = store.get(r, namespace, name);
      if (!obj) throw notFound(r, name);
      return obj;
    };
    /** A write through the main resource keeps the status; one through /status keeps everything else. */
    const merge = (prev: KubeObject, next: KubeObject): KubeObject => {
      if (!r.statusSubresource) return next;
      if (sub === "status") return { ...prev, status: next.status };
      return { ...next, status: prev.status };
    };
    switch (req.method) {
      case "GET":
        return send(res, rec, 200, current());
      case "PUT": {
        const body = (await readBody(req)) as KubeObject | undefined;
        if (!body?.metadata) throw badRequest("the body of the request was empty");
        checkType(r, body);
        if (body.metadata.name !== name) throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
        const prev = current();
        const next = merge(prev, { ...body, metadata: { ...body.metadata, namespace } });
        validate(r, next);
        checkImmutable(r, prev, next);
        return send(res, rec, 200, store.replace(r, next, body.metadata.resourceVersion));
      }
      case "PATCH": {
        const body = await readBody(req);
        const prev = current();
        const patched = applyPatch(prev, req.headers["content-type"] ?? "", body) as KubeObject;
        if (patched.metadata?.name !== name) throw badRequest("metadata.name cannot be changed by a patch");
        const next = merge(prev, patched);
        validate(r, next);
        checkImmutable(r, prev, next);
        // A patch carrying metadata.resourceVersion is a precondition, like an update's.
        const expected = (body as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion;
        return send(res, rec, 200, store.replace(r, next, expected));
      }
      case "DELETE": {
        if (sub) throw methodNotAllowed();
        const body = (await readBody(req)) as { propagationPolicy?: string; orphanDependents?: boolean } | undefined;
        const policy = q.get("propagationPolicy") ?? body?.propagationPolicy ?? (body?.orphanDependents === true ? "Orphan" : body?.orphanDependents === false ? "Background" : undefined);
        return send(res, rec, 200, removeObject(r, namespace, name, policy));
      }
      default:
        throw methodNotAllowed();
    }
  }

  /** /api/v1/... or /apis/<group>/<version>/...: resolves the resource and its namespace. */
  async function serveResource(req: http.IncomingMessage, res: http.ServerResponse, group: string, version: string, rest: string[], q: URLSearchParams, rec: RecordedRequest) {
    const [a, b, c, d, e, ...extra] = rest;
    if (extra.length || !a) throw unknownResource();
    const nsType = findResource(group, version, "namespaces");
    if (a === "namespaces" && b && c && (!nsType || !["status", "finalize"].includes(c))) {
      const r = findResource(group, version, c);
      if (!r || !r.namespaced) throw unknownResource();
      if (!d) return serveCollection(req, res, r, b, q, rec);
      return serveItem(req, res, r, b, d, e, q, rec);
    }
    if (d) throw unknownResource();
    const r = findResource(group, version, a);
    if (!r) throw unknownResource();
    if (!b) return serveCollection(req, res, r, undefined, q, rec);
    if (r.namespaced) throw unknownResource();
    return serveItem(req, res, r, undefined, b, c, q, rec);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, rec: RecordedRequest) {
    const url = new URL(req.url ?? "/", "http://localhost");
    const q = url.searchParams;
    const parts = url.pathname.split("/").filter(Boolean);
    if (req.headers.authorization !== `Bearer ${token}`) throw unauthorized();
    const rule = failures.find((f) => f.remaining > 0 && f.match(rec));
    if (rule) {
      rule.remaining -= 1;
      if (rule.after) failAfter.set(rec, rule.code);
      else return send(res, rec, rule.code, outage(rule.code));
    }
    const [root, g, v, ...rest] = parts;
    if (parts.length === 1 && ["healthz", "livez", "readyz"].includes(root!)) {
      rec.status = 200;
      res.writeHead(200, { "content-type": "text/plain" });
      return void res.end("ok");
    }
    if (req.method !== "GET" && (parts.length <= 1 || (root === "apis" && parts.length <= 3) || (root === "api" && parts.length <= 2))) throw methodNotAllowed();
    if (root === "version" && parts.length === 1) {
      return send(res, rec, 200, { major: "1", minor: gitVersion.split(".")[1] ?? "33", gitVersion, gitCommit: "0000000000000000000000000000000000000000", gitTreeState: "clean", buildDate: "2025-01-01T00:00:00Z", goVersion: "go1.24.0", compiler: "gc", platform: "linux/amd64" });
    }
    if (root === "api") {
      if (!g) return send(res, rec, 200, coreVersions(address));
      if (g !== "v1") throw unknownResource();
      if (!v) return send(res, rec, 200, coreResourceList());
      return serveResource(req, res, "", "v1", [v, ...rest], q, rec);
    }
    if (root === "apis") {
      if (!g) return send(res, rec, 200, groupList());
      if (!v) {
        const doc = groupDoc(g);
        if (!doc) throw unknownResource();
        return send(res, rec, 200, doc);
      }
      if (!rest.length) {
        const doc = groupResourceList(g, v);
        if (!doc) throw unknownResource();
        return send(res, rec, 200, doc);
      }
      return serveResource(req, res, g, v, rest, q, rec);
    }
    throw unknownResource();
  }

  const httpServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const rec: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      watch: ["1", "true"].includes(url.searchParams.get("watch") ?? ""),
    };
    requests.push(rec);
    handle(req, res, rec).catch((err: unknown) => {
      if (res.headersSent) return void res.end();
      if (err instanceof StatusError) return send(res, rec, err.status.code, err.status);
      // A bug of this server, not an injected outage: say so loudly in the test output.
      console.error("kube-api test server:", err);
      send(res, rec, 500, outage(500));
    });
  });
  httpServer.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const port = (httpServer.address() as AddressInfo).port;
  address = `127.0.0.1:${port}`;
  const url = `http://${address}`;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kube-api-"));
  const kubeconfigPath = path.join(dir, "kubeconfig");
  fs.writeFileSync(kubeconfigPath, kubeconfigYaml(url, token), { mode: 0o600 });

  const jobs = opts.jobController
    ? startJobController(
        {
          get: (kind, namespace, name) => store.get(byKind(kind), namespace, name),
          list: (kind, namespace) => store.list(byKind(kind), namespace),
          create: (obj) => store.create(byKind(obj.kind), withDefaults(byKind(obj.kind), obj)),
          replace: (obj) => store.replace(byKind(obj.kind), obj),
          remove: (kind, namespace, name) => void removeObject(byKind(kind), namespace, name),
          subscribe: (listener) => store.subscribe(listener),
          appendLog: (namespace, pod, container, text) => server.appendLog(namespace, pod, container, text),
        },
        opts.jobController === true ? {} : opts.jobController,
      )
    : undefined;

  const server: KubeApiServer = {
    url,
    kubeconfigPath,
    token,
    expiredWatch: opts.expiredWatch ?? "event",
    requests,
    get resourceVersion() {
      return store.resourceVersion;
    },
    put(input) {
      const r = resourceForObject(input);
      if (!r) throw new Error(`the test API server does not serve ${input.apiVersion} ${input.kind}`);
      const obj = structuredClone(input) as KubeObject;
      if (r.namespaced) obj.metadata.namespace ??= "default";
      const prev = store.get(r, obj.metadata.namespace, obj.metadata.name);
      if (!prev) {
        obj.metadata.uid ??= randomUUID();
        return store.create(r, withDefaults(r, obj));
      }
      return store.replace(r, { ...obj, metadata: { ...prev.metadata, ...obj.metadata } });
    },
    mutate(kind, namespace, name, change) {
      const r = byKind(kind);
      const obj = store.get(r, namespace, name);
      if (!obj) throw new Error(`${kind} ${namespace ?? ""}/${name} does not exist`);
      change(obj);
      return store.replace(r, obj);
    },
    get: (kind, namespace, name) => store.get(byKind(kind), namespace, name),
    list: (kind, namespace) => store.list(byKind(kind), namespace),
    remove(kind, namespace, name) {
      const r = byKind(kind);
      removeObject(r, namespace, name);
    },
    appendLog(namespace, pod, container, text) {
      const key = `${namespace}/${pod}/${container}`;
      const entries = logs.get(key) ?? [];
      logs.set(key, entries);
      const lines = text.replace(/\n$/, "").split("\n").map((line) => ({ time: new Date().toISOString(), line }));
      entries.push(...lines);
      for (const f of followers) if (f.key === key) for (const l of lines) f.res.write(logLine(l, f.timestamps));
    },
    dropWatches(o) {
      const open = [...watches];
      for (const w of open) w.end(o?.abrupt);
      return open.length;
    },
    expireWatches() {
      const open = [...watches];
      store.compact();
      for (const w of open) {
        w.send("ERROR", expired(store.resourceVersion - 1, store.oldestResumable).status);
        w.end();
      }
      return open.length;
    },
    compact: () => store.compact(),
    bookmark: sendBookmarks,
    failNext(count, rule) {
      failures.push({ remaining: count, code: rule?.code ?? 503, after: rule?.after ?? false, match: rule?.match ?? (() => true) });
    },
    openWatches: (resource) => [...watches].filter((w) => !resource || w.resource.name === resource).length,
    kubelet: jobs?.kubelet,
    async close() {
      jobs?.stop();
      if (bookmarkTimer) clearInterval(bookmarkTimer);
      for (const w of [...watches]) w.end(true);
      for (const f of followers) f.res.end();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  return server;
}

/** The kubeconfig of a plain-http server: client-node refuses http:// unless TLS verification is skipped. */
export function kubeconfigYaml(server: string, token: string, namespace = "default"): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: kube-api-test
    cluster:
      server: ${server}
      insecure-skip-tls-verify: true
users:
  - name: kube-api-test
    user:
      token: ${token}
contexts:
  - name: kube-api-test
    context:
      cluster: kube-api-test
      user: kube-api-test
      namespace: ${namespace}
current-context: kube-api-test
`;
}
