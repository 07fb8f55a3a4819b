import "server-only";
import { HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { withTimeout } from "../port";
import type { ObjectsPort } from "./index";

/** Amazon S3 or any S3-compatible server (credentials from the default AWS provider chain). */
export function createS3Objects(opts: { bucket: string; region: string; endpoint?: string; forcePathStyle: boolean }): ObjectsPort {
  const client = new S3Client({
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle,
    // Some S3-compatible servers corrupt streamed uploads with the newer default checksums (REFERENCE.md A).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return {
    driver: "s3",
    bucket: opts.bucket,
    endpoint: `s3://${opts.bucket}${opts.endpoint ? ` at ${opts.endpoint}` : ""}`,
    async check() {
      await withTimeout(client.send(new HeadBucketCommand({ Bucket: opts.bucket })), 5000, `bucket ${opts.bucket}`);
      return `bucket ${opts.bucket} reachable`;
    },
  };
}
