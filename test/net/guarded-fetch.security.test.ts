import { test, after } from "node:test";
import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import os from "node:os";
import { AddressPolicy } from "../../src/net/address-guard.js";
import { GuardedClient, OutboundError } from "../../src/net/guarded-fetch.js";
import type { OutboundErrorKind } from "../../src/net/guarded-fetch.js";
import { startServer, tryStartServer } from "./servers.js";

// Every refusal here must happen before a connection is made: the servers count requests, and the
// non-loopback literals (10.x, 192.168.x, 169.254.x) are refused pre-connect so nothing leaves.

const ok = (_req: unknown, res: import("node:http").ServerResponse) => res.end("hello");
const server = await startServer(ok);
const server6 = await tryStartServer(ok, "::1");
// a second loopback address that is not on the allow-list below
const server2 = await tryStartServer(ok, "127.0.0.2");

const strict = new GuardedClient(new AddressPolicy([]), { connectTimeoutMs: 2000 });
const allowLocal = new GuardedClient(new AddressPolicy(["127.0.0.1"]), { connectTimeoutMs: 2000 });

after(async () => {
  await Promise.all([strict.close(), allowLocal.close(), server.close(), server6?.close(), server2?.close()]);
});

const base = { maxRedirects: 3, timeoutMs: 5000, maxBytes: 1 << 20 };

async function refused(client: GuardedClient, url: string, kind: OutboundErrorKind = "blocked"): Promise<OutboundError> {
  const started = Date.now();
  const err = await client.request({ ...base, url }).then(
    () => assert.fail(`${url} was fetched`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OutboundError, `${url}: expected OutboundError, got ${String(err)}`);
  assert.equal(err.kind, kind, `${url}: ${err.message}`);
  // pre-connect refusals are immediate; a connect attempt to an unroutable address would not be
  assert.ok(Date.now() - started < 1000, `${url} took ${Date.now() - started} ms to refuse`);
  return err;
}

test("loopback, private, link-local, unspecified and metadata destinations are refused unfetched", async () => {
  const before = server.hits.length;
  const p = server.port;
  await refused(strict, `http://127.0.0.1:${p}/x`);
  await refused(strict, `http://localhost:${p}/`);
  await refused(allowLocal, `http://localhost:${p}/`); // the name rule holds even when its address is allowed
  await refused(allowLocal, `http://localhost.:${p}/`);
  await refused(strict, "http://10.0.0.1/");
  await refused(strict, "http://192.168.1.1/");
  await refused(strict, "http://169.254.169.254/latest/meta-data/");
  await refused(strict, `http://[::ffff:127.0.0.1]:${p}/`);
  await refused(strict, `http://0.0.0.0:${p}/`);
  await refused(strict, `http://0x7f.1:${p}/`); // WHATWG URL normalises this to 127.0.0.1
  await refused(strict, "http://metadata.google.internal/");
  await refused(strict, "https://metadata.google.internal./computeMetadata/v1/");
  assert.equal(server.hits.length, before, "the loopback server saw a request");
});

test("IPv6 loopback is refused unfetched", async (t) => {
  if (!server6) return t.skip("no IPv6 loopback here");
  await refused(strict, `${server6.origin}/`);
  await refused(allowLocal, `${server6.origin}/`);
  assert.equal(server6.hits.length, 0);
});

test("a host name that resolves to loopback is refused at connect time (DNS-level check)", async (t) => {
  // The pre-connect check only knows names; this one passes it and must be stopped by the
  // socket's own lookup. Uses this machine's host name when /etc/hosts maps it to 127.x.
  const name = os.hostname();
  const addr = await lookup(name).catch(() => null);
  if (!addr?.address.startsWith("127.")) return t.skip(`${name} does not resolve to 127.x here`);
  const before = server.hits.length;
  await refused(strict, `http://${name}:${server.port}/`);
  assert.equal(server.hits.length, before);
  // ...and the same name works once its address is allow-listed (connect-time check passes)
  const res = await allowLocal.fetchBuffer({ ...base, url: `http://${name}:${server.port}/` });
  assert.equal(res.body.toString(), "hello");
});

test("a redirect to a loopback address that is not allow-listed is refused; its server sees nothing", async (t) => {
  if (!server2) return t.skip("cannot bind 127.0.0.2 here");
  const hop = await startServer((_req, res) => res.writeHead(302, { location: `${server2.origin}/secret` }).end());
  t.after(() => hop.close());
  await refused(allowLocal, `${hop.origin}/start`);
  assert.deepEqual(hop.hits, ["GET /start"]);
  assert.equal(server2.hits.length, 0);
});

test("a redirect to the metadata address is refused", async (t) => {
  const hop = await startServer((_req, res) =>
    res.writeHead(301, { location: "http://169.254.169.254/latest/meta-data/" }).end(),
  );
  t.after(() => hop.close());
  await refused(allowLocal, `${hop.origin}/`);
  assert.equal(hop.hits.length, 1);
});

test("too many redirects stop the exchange", async (t) => {
  // /r/N redirects to /r/N+1 forever
  const loop = await startServer((req, res) => {
    const n = Number(req.url!.split("/")[2] ?? 0);
    res.writeHead(302, { location: `/r/${n + 1}` }).end();
  });
  t.after(() => loop.close());
  await refused(allowLocal, `${loop.origin}/r/0`, "too_many_redirects");
  assert.deepEqual(loop.hits, ["GET /r/0", "GET /r/1", "GET /r/2", "GET /r/3"]);
});

test("only http(s) URLs without credentials are accepted", async () => {
  const before = server.hits.length;
  await refused(allowLocal, `http://user:pw@127.0.0.1:${server.port}/`, "bad_url");
  await refused(allowLocal, "file:///etc/passwd", "bad_url");
  await refused(allowLocal, "ftp://127.0.0.1/", "bad_url");
  await refused(allowLocal, "not a url", "bad_url");
  assert.equal(server.hits.length, before);
});

test("a redirect to a non-http scheme is refused", async (t) => {
  const hop = await startServer((_req, res) => res.writeHead(302, { location: "file:///etc/passwd" }).end());
  t.after(() => hop.close());
  await refused(allowLocal, `${hop.origin}/`, "bad_url");
});

test("credentials are not carried to another origin on redirect", async (t) => {
  const target = await startServer((_req, res) => res.end("done"));
  const hop = await startServer((_req, res) => res.writeHead(307, { location: `${target.origin}/after` }).end());
  t.after(() => Promise.all([hop.close(), target.close()]));
  const res = await allowLocal.fetchBuffer({
    ...base,
    url: `${hop.origin}/`,
    headers: { Authorization: "Bearer x", "X-Keep": "1" },
  });
  assert.equal(res.body.toString(), "done");
  assert.equal(hop.headers[0].authorization, "Bearer x");
  assert.equal(target.headers[0].authorization, undefined);
  assert.equal(target.headers[0]["x-keep"], "1");
});
