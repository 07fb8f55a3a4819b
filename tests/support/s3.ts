import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

/**
 * An S3-compatible server on loopback for the S3 driver's tests: `s3rver` in a child process.
 *
 * Its quirks (REFERENCE.md A): clients need path-style addressing and `WHEN_REQUIRED` checksums; it
 * needs OpenSSL's legacy provider (else listing pages answer 500), which is why it runs in its own
 * process with NODE_OPTIONS=--openssl-legacy-provider rather than inside the test runner; it accepts
 * any SigV4 signature from its one account (access key `S3RVER`), so it can never test auth; and it
 * reads a suffix range (`bytes=-N`) as `bytes=0-N`.
 */
export interface S3TestServer {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  bucket: string;
  /** Driver settings for `createS3Objects`. */
  objects: { bucket: string; region: string; endpoint: string; forcePathStyle: true };
  stop(): Promise<void>;
}

// Runs in the child: starts s3rver on a free port and prints the port on one line.
const SCRIPT = `
const S3rver = require("s3rver");
const [directory, bucket] = process.argv.slice(1);
new S3rver({ address: "127.0.0.1", port: 0, directory, silent: true, configureBuckets: [{ name: bucket }] })
  .run()
  .then((a) => console.log(JSON.stringify({ port: a.port })), (err) => { console.error(err); process.exit(1); });
`;

/**
 * Starts s3rver with one empty bucket and points the AWS SDK's default credential chain of this
 * process at its account (the S3 driver takes credentials from that chain, as in production).
 */
export async function startS3Server(bucket = "piksel-test-data"): Promise<S3TestServer> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "piksel-s3rver-"));
  const child: ChildProcess = spawn(process.execPath, ["-e", SCRIPT, directory, bucket], {
    cwd: path.resolve(import.meta.dirname, "../.."),
    env: { ...process.env, NODE_OPTIONS: "--openssl-legacy-provider" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => {
      try {
        resolve((JSON.parse(line) as { port: number }).port);
      } catch {
        reject(new Error(`s3rver printed ${JSON.stringify(line)} instead of its port`));
      }
    });
    child.once("exit", (code) => reject(new Error(`s3rver exited with code ${code} before listening: ${stderr.trim()}`)));
  });
  process.env.AWS_ACCESS_KEY_ID = "S3RVER";
  process.env.AWS_SECRET_ACCESS_KEY = "S3RVER";
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    objects: { bucket, region: "us-east-1", endpoint, forcePathStyle: true },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}
