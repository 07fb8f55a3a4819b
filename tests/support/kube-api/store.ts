import { randomUUID } from "node:crypto";
import type { ResourceType } from "./resources";
import { alreadyExists, conflict, notFound } from "./status";

/** A Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  [key: string]: unknown;
}

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoredEvent {
  rv: number;
  type: EventType;
  resource: ResourceType;
  object: KubeObject;
  /** The object before the change (MODIFIED), so watchers with selectors see objects enter and leave. */
  prev?: KubeObject;
}

type Listener = (event: StoredEvent) => void;

const keyOf = (r: ResourceType, namespace: string | undefined, name: string) => `${r.name}/${r.namespaced ? (namespace ?? "") : ""}/${name}`;

/** Everything but metadata and status: what metadata.generation counts changes of. */
function specPart(obj: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.stringify(rest);
}

/**
 * The objects and their history, like etcd behind the watch cache: every write takes the next
 * resourceVersion (one counter for all types, as etcd's revision is), and a bounded window of events
 * lets a watch resume from a resourceVersion. Events older than the window are gone: resuming from
 * before it is answered 410 Expired, exactly what makes clients relist.
 */
export class Store {
  private rv: number;
  private readonly objects = new Map<string, KubeObject>();
  private history: StoredEvent[] = [];
  /** A watch may resume from a resourceVersion >= this; anything older missed compacted events. */
  private resumableFrom = 0;
  private readonly listeners = new Set<Listener>();

  constructor(
    private readonly historyLimit: number,
    startRv = 1000,
  ) {
    this.rv = startRv;
    this.resumableFrom = startRv;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  get(r: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const obj = this.objects.get(keyOf(r, namespace, name));
    return obj && structuredClone(obj);
  }

  list(r: ResourceType, namespace?: string): KubeObject[] {
    return [...this.objects.values()]
      .filter((o) => o.kind === r.kind && o.apiVersion === (r.group ? `${r.group}/${r.version}` : r.version))
      .filter((o) => !namespace || o.metadata.namespace === namespace)
      .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`))
      .map((o) => structuredClone(o));
  }

  /** Every stored object, for the garbage collector's owner lookups. */
  all(): KubeObject[] {
    return [...this.objects.values()].map((o) => structuredClone(o));
  }

  create(r: ResourceType, input: KubeObject): KubeObject {
    const obj = structuredClone(input);
    const key = keyOf(r, obj.metadata.namespace, obj.metadata.name);
    if (this.objects.has(key)) throw alreadyExists(r, obj.metadata.name);
    obj.metadata.uid ??= randomUUID();
    obj.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, "Z");
    if (r.generation) obj.metadata.generation = 1;
    else delete obj.metadata.generation;
    return this.commit(r, key, "ADDED", obj);
  }

  /**
   * Replaces an object. `expectedRv` is the optimistic-concurrency precondition of an update
   * (metadata.resourceVersion of the request body): a stale one is a 409 Conflict.
   */
  replace(r: ResourceType, input: KubeObject, expectedRv?: string): KubeObject {
    const key = keyOf(r, input.metadata.namespace, input.metadata.name);
    const prev = this.objects.get(key);
    if (!prev) throw notFound(r, input.metadata.name);
    if (expectedRv && expectedRv !== prev.metadata.resourceVersion) throw conflict(r, input.metadata.name);
    const obj = structuredClone(input);
    obj.metadata.uid = prev.metadata.uid;
    obj.metadata.creationTimestamp = prev.metadata.creationTimestamp;
    if (r.generation) {
      const changed = specPart(obj) !== specPart(prev) || (!!obj.metadata.deletionTimestamp && !prev.metadata.deletionTimestamp);
      obj.metadata.generation = (prev.metadata.generation ?? 1) + (changed ? 1 : 0);
    }
    return this.commit(r, key, "MODIFIED", obj, structuredClone(prev));
  }

  remove(r: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const key = keyOf(r, namespace, name);
    const prev = this.objects.get(key);
    if (!prev) throw notFound(r, name);
    return this.commit(r, key, "DELETED", structuredClone(prev));
  }

  private commit(r: ResourceType, key: string, type: EventType, obj: KubeObject, prev?: KubeObject): KubeObject {
    this.rv += 1;
    obj.metadata.resourceVersion = String(this.rv);
    if (type === "DELETED") this.objects.delete(key);
    else this.objects.set(key, obj);
    const event: StoredEvent = { rv: this.rv, type, resource: r, object: structuredClone(obj), ...(prev ? { prev } : {}) };
    this.history.push(event);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.resumableFrom = dropped[dropped.length - 1]!.rv;
    }
    for (const l of this.listeners) l(event);
    return structuredClone(obj);
  }

  /**
   * Events after `rv`, or why there are none to give: "expired" when some were compacted away
   * (the client must relist), "future" when the client claims a version the server has not reached.
   */
  eventsSince(rv: number): StoredEvent[] | "expired" | "future" {
    if (rv > this.rv) return "future";
    if (rv < this.resumableFrom) return "expired";
    return this.history.filter((e) => e.rv > rv);
  }

  /** The oldest resourceVersion a watch can still resume from (the number a 410 message quotes). */
  get oldestResumable(): number {
    return this.resumableFrom;
  }

  /** Forgets all history: only a client already at the current resourceVersion can resume. */
  compact(): void {
    this.history = [];
    this.resumableFrom = this.rv;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
