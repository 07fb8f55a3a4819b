import { badRequest, unsupportedMediaType } from "./status";

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch: objects merge, `null` deletes, everything else (arrays too) replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw badRequest(`the server rejected our request due to an error in our request: invalid JSON pointer ${path}`);
  return path.slice(1).split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: Json, parts: string[]): { parent: Record<string, Json> | Json[]; key: string } {
  let cur = doc;
  for (const p of parts.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
    if (cur === undefined) throw badRequest(`doc is missing path: ${parts.join("/")}`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw badRequest(`doc is missing path: ${parts.join("/")}`);
  return { parent: cur, key: parts[parts.length - 1]! };
}

function get(doc: Json, parts: string[]): Json {
  let cur = doc;
  for (const p of parts) cur = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
  return cur;
}

/** RFC 6902 JSON patch (add, remove, replace, test, copy, move) on a deep copy. */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw badRequest("the body of a json patch must be an array of operations");
  let doc = structuredClone(target);
  for (const raw of ops) {
    const op = raw as { op: string; path: string; value?: Json; from?: string };
    const parts = pointer(op.path);
    const write = (value: Json) => {
      if (parts.length === 0) return void (doc = value);
      const { parent, key } = parentOf(doc, parts);
      if (Array.isArray(parent)) {
        const i = key === "-" ? parent.length : Number(key);
        if (op.op === "add") parent.splice(i, 0, value);
        else parent[i] = value;
      } else parent[key] = value;
    };
    const remove = (p: string[]) => {
      const { parent, key } = parentOf(doc, p);
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else {
        if (!(key in parent)) throw badRequest(`unable to remove nonexistent key: ${key}: missing value`);
        delete parent[key];
      }
    };
    switch (op.op) {
      case "add":
      case "replace":
        if (op.op === "replace" && get(doc, parts) === undefined) throw badRequest(`the server rejected our request: replace operation does not apply: doc is missing key: ${op.path}: missing value`);
        write(structuredClone(op.value));
        break;
      case "remove":
        remove(parts);
        break;
      case "test":
        if (JSON.stringify(get(doc, parts)) !== JSON.stringify(op.value)) throw badRequest(`testing value ${op.path} failed: test failed`);
        break;
      case "copy":
      case "move": {
        const from = pointer(op.from ?? "");
        const value = structuredClone(get(doc, from));
        if (op.op === "move") remove(from);
        write(value);
        break;
      }
      default:
        throw badRequest(`Unexpected kind: ${op.op}`);
    }
  }
  return doc;
}

/**
 * Applies a PATCH body by its content type. Strategic merge patch is served as a JSON merge patch: the
 * server does not know the patch strategies of each list (containers merge by name in a real
 * server, here they are replaced), which is enough for the metadata and status patches tests make.
 * Server-side apply (application/apply-patch+yaml) is not implemented and answers 415.
 */
export function applyPatch(target: Json, contentType: string, body: Json): Json {
  const type = contentType.split(";")[0]!.trim();
  if (type === "application/merge-patch+json" || type === "application/strategic-merge-patch+json") return mergePatch(target, body);
  if (type === "application/json-patch+json") return jsonPatch(target, body);
  throw unsupportedMediaType(type || "(none)");
}
