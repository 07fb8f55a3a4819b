import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface EcrStub {
  /** Endpoint for `new ECRClient({ endpoint })`. */
  endpoint: string;
  /** GetAuthorizationToken calls that were answered with a token. */
  readonly tokensIssued: number;
  /** Every call, with the reason it was refused (if it was). */
  calls: { ok: boolean; reason?: string }[];
  stop(): Promise<void>;
}

const sha256hex = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();

/**
 * Checks an AWS Signature Version 4 header the way AWS does for a JSON-protocol POST: rebuilds the
 * canonical request from the signed headers and the body, derives the signing key from the secret
 * and compares signatures. Returns the reason for a refusal, or null.
 */
function verifySigV4(req: http.IncomingMessage, body: Buffer, creds: { accessKeyId: string; secretAccessKey: string }, region: string): string | null {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(req.headers.authorization ?? "");
  if (!m) return "no SigV4 authorization header";
  const [, keyId, date, signedRegion, service, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (keyId !== creds.accessKeyId) return "unknown access key";
  if (signedRegion !== region || service !== "ecr") return `signed for ${signedRegion}/${service}`;
  const amzDate = String(req.headers["x-amz-date"] ?? "");
  if (!amzDate.startsWith(date)) return "x-amz-date does not match the credential scope";
  const url = new URL(req.url ?? "/", "http://stub");
  const canonicalHeaders = signedHeaders
    .split(";")
    .map((h) => `${h}:${String(req.headers[h] ?? "").trim().replace(/\s+/g, " ")}\n`)
    .join("");
  const canonicalRequest = [req.method, url.pathname, url.search.slice(1), canonicalHeaders, signedHeaders, sha256hex(body)].join("\n");
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, `${date}/${region}/ecr/aws4_request`, sha256hex(canonicalRequest)].join("\n");
  const key = hmac(hmac(hmac(hmac(`AWS4${creds.secretAccessKey}`, date), region), "ecr"), "aws4_request");
  const expected = hmac(key, stringToSign);
  return timingSafeEqual(expected, Buffer.from(signature, "hex")) ? null : "signature mismatch";
}

/**
 * The ECR API's GetAuthorizationToken on loopback (awsJson1_1 protocol). It checks the caller's
 * SigV4 signature against known credentials — a wrong secret is refused as AWS refuses it — and
 * answers a token base64("AWS:<password>") that the test registry accepts through htpasswd.
 */
export async function startEcrStub(opts: { accessKeyId: string; secretAccessKey: string; region: string; registryPassword: string; expiresInSeconds?: number }): Promise<EcrStub> {
  let issued = 0;
  const calls: EcrStub["calls"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
        res.end(JSON.stringify(payload));
      };
      if (req.headers["x-amz-target"] !== "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken") {
        calls.push({ ok: false, reason: `unexpected target ${String(req.headers["x-amz-target"])}` });
        return reply(400, { __type: "UnknownOperationException", message: "unknown operation" });
      }
      const refused = verifySigV4(req, body, opts, opts.region);
      calls.push({ ok: !refused, ...(refused && { reason: refused }) });
      if (refused === "unknown access key") return reply(400, { __type: "UnrecognizedClientException", message: "The security token included in the request is invalid." });
      if (refused) return reply(403, { __type: "InvalidSignatureException", message: "The request signature we calculated does not match the signature you provided." });
      issued++;
      reply(200, {
        authorizationData: [
          {
            authorizationToken: Buffer.from(`AWS:${opts.registryPassword}`).toString("base64"),
            expiresAt: Date.now() / 1000 + (opts.expiresInSeconds ?? 12 * 3600),
            proxyEndpoint: "https://123456789012.dkr.ecr.us-west-2.amazonaws.com",
          },
        ],
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get tokensIssued() {
      return issued;
    },
    calls,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
