import "server-only";
import http from "node:http";
import https from "node:https";
import readline from "node:readline";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubernetesApiError, toKubernetesApiError } from "./api-error";

/**
 * A streamed GET against the Kubernetes API (pod logs with `follow`), read line by line.
 *
 * client-node's `Log` pipes the response into a caller's stream but drops the response's errors
 * (a `pipe()` does not forward them), so a follow cut by the network would hang forever. This opens
 * the request with node:http(s) and the options client-node computes for the current context
 * (`applyToHTTPSOptions`: TLS, bearer or exec-plugin token, proxy agent), so auth is identical.
 */
export async function* streamLines(kc: KubeConfig, path: string, query: Record<string, string>, what: string, signal?: AbortSignal): AsyncGenerator<string> {
  const server = kc.getCurrentCluster()?.server ?? "(no cluster)";
  const url = new URL(server.replace(/\/+$/, "") + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const options: https.RequestOptions = { method: "GET", headers: { accept: "*/*" } };
  await kc.applyToHTTPSOptions(options);
  if (signal?.aborted) return;
  const request = (url.protocol === "http:" ? http : https).request(url, options);
  const onAbort = () => request.destroy();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      request.once("response", resolve);
      request.once("error", reject);
      request.end();
    });
    if (response.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of response) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString("utf8");
      throw toKubernetesApiError(Object.assign(new Error(body), { code: response.statusCode, body }), server, what);
    }
    const lines = readline.createInterface({ input: response, crlfDelay: Infinity });
    try {
      for await (const line of lines) yield line;
    } finally {
      lines.close();
    }
    // readline ends quietly when the socket closes; a stream that ended without its final chunk
    // (the server or the network cut it) is an error, unless we cut it ourselves.
    if (!response.complete && !signal?.aborted) throw new KubernetesApiError(`Kubernetes API ${server}: ${what}: the stream was cut`);
  } catch (err) {
    if (signal?.aborted) return;
    throw toKubernetesApiError(err, server, what);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    request.destroy();
  }
}
