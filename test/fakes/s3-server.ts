import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
// s3rver ships no types; the few members used here are typed below.
import S3rver from "s3rver";

// The AWS SDK warns once per process that later releases need Node 22 (style.md, "Gotchas");
// that is known and pinned, so tests drop just that warning.
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
  const text = typeof warning === "string" ? warning : ((warning as Error)?.message ?? "");
  const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
  if (type === "NodeVersionSupportWarning" || /require node >=22/.test(text)) return;
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;

/** s3rver's built-in account: it accepts any SigV4 signature made with this key pair. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface FakeS3 {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  bucket: string;
  /** where s3rver keeps its objects and in-progress multipart uploads. */
  directory: string;
  /** S3FileStore options pointing at this server. */
  storeOptions(prefix?: string): {
    bucket: string;
    endpoint: string;
    region: string;
    forcePathStyle: boolean;
    prefix: string;
    credentials: typeof S3RVER_CREDENTIALS;
  };
  close(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** A real S3 API (s3rver) on 127.0.0.1 and a free port, backed by a fresh temp dir with one bucket. */
export async function startFakeS3(bucket = "peel-test"): Promise<FakeS3> {
  const directory = await mkdtemp(path.join(tmpdir(), "peel-s3rver-"));
  const Server = S3rver as unknown as new (opts: object) => S3rverInstance;
  const server = new Server({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const addr = await server.run();
  const endpoint = `http://127.0.0.1:${addr.port}`;
  return {
    endpoint,
    bucket,
    directory,
    storeOptions: (prefix = "") => ({
      bucket,
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      prefix,
      credentials: S3RVER_CREDENTIALS,
    }),
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
