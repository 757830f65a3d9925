import { test, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { AddressPolicy } from "../../src/net/address-guard.js";
import {
  GuardedClient,
  OutboundError,
  closeGuardedClients,
  guardedFetchBuffer,
  guardedRequest,
} from "../../src/net/guarded-fetch.js";
import { startServer } from "./servers.js";

const policy = new AddressPolicy(["127.0.0.1"]);
const client = new GuardedClient(policy, { connectTimeoutMs: 2000 });
after(async () => {
  await client.close();
  await closeGuardedClients();
});

const base = { maxRedirects: 3, timeoutMs: 5000, maxBytes: 1 << 20 };
const MiB = 1 << 20;

async function rejects(p: Promise<unknown>, kind: OutboundError["kind"]): Promise<OutboundError> {
  const err = await p.then(
    () => assert.fail("expected a rejection"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OutboundError, `expected OutboundError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  return err;
}

test("an allow-listed server is fetched; the body streams", async (t) => {
  const s = await startServer((req, res) =>
    res.writeHead(200, { "content-type": "text/plain", "x-path": req.url! }).end("hello"),
  );
  t.after(() => s.close());
  const res = await client.request({ ...base, url: `${s.origin}/a?b=1` });
  assert.equal(res.status, 200);
  assert.equal(res.headers["x-path"], "/a?b=1");
  assert.equal(res.url, `${s.origin}/a?b=1`);
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), "hello");
  assert.equal(s.headers[0]["user-agent"], "peel");
});

test("redirects are followed within the limit, relative Locations resolved against the current URL", async (t) => {
  const s = await startServer((req, res) => {
    if (req.url === "/one") res.writeHead(301, { location: "/two" }).end();
    else if (req.url === "/two") res.writeHead(302, { location: "three/x?q=1" }).end();
    else if (req.url === "/three/x?q=1") res.writeHead(308, { location: "//127.0.0.1:" + s.port + "/final" }).end();
    else res.end("final");
  });
  t.after(() => s.close());
  const res = await client.fetchBuffer({ ...base, url: `${s.origin}/one` });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "final");
  assert.equal(res.url, `${s.origin}/final`);
  assert.deepEqual(s.hits, ["GET /one", "GET /two", "GET /three/x?q=1", "GET /final"]);
});

test("maxRedirects 0 returns the 3xx itself", async (t) => {
  const s = await startServer((_req, res) => res.writeHead(302, { location: "/elsewhere" }).end("moved"));
  t.after(() => s.close());
  const res = await client.fetchBuffer({ ...base, maxRedirects: 0, url: `${s.origin}/` });
  assert.equal(res.status, 302);
  assert.equal(res.headers.location, "/elsewhere");
  assert.deepEqual(s.hits, ["GET /"]);
});

test("303 turns a POST into a body-less GET; 307 repeats the POST with its body", async (t) => {
  const bodies: string[] = [];
  const s = await startServer((req, res) => {
    let b = "";
    req.on("data", (c) => (b += c));
    req.on("end", () => {
      bodies.push(b);
      if (req.url === "/see-other") res.writeHead(303, { location: "/result" }).end();
      else if (req.url === "/temp") res.writeHead(307, { location: "/result" }).end();
      else res.end(req.method);
    });
  });
  t.after(() => s.close());
  const a = await client.fetchBuffer({
    ...base,
    method: "POST",
    url: `${s.origin}/see-other`,
    body: "payload",
    headers: { "content-type": "text/plain" },
  });
  assert.equal(a.body.toString(), "GET");
  const b = await client.fetchBuffer({ ...base, method: "POST", url: `${s.origin}/temp`, body: Buffer.from("payload") });
  assert.equal(b.body.toString(), "POST");
  assert.deepEqual(s.hits, ["POST /see-other", "GET /result", "POST /temp", "POST /result"]);
  assert.deepEqual(bodies, ["payload", "", "payload", "payload"]);
  assert.equal(s.headers[1]["content-type"], undefined);
});

test("a Content-Length over the cap is refused before the body is read", async (t) => {
  let bodyStarted = false;
  const s = await startServer((_req, res) => {
    res.writeHead(200, { "content-length": String(10 * MiB) });
    res.flushHeaders();
    // the body would only start after a second; the client must have given up by then
    setTimeout(() => {
      bodyStarted = true;
      if (!res.destroyed) res.end(Buffer.alloc(10 * MiB));
    }, 1000).unref();
  });
  t.after(() => s.close());
  const started = Date.now();
  const err = await rejects(client.request({ ...base, maxBytes: MiB, url: `${s.origin}/big` }), "too_large");
  assert.match(err.message, /Content-Length 10485760/);
  assert.ok(Date.now() - started < 900);
  assert.equal(bodyStarted, false);
});

test("a chunked body that grows past the cap is aborted mid-transfer", async (t) => {
  let sent = 0;
  let serverRes: ServerResponse | undefined;
  const s = await startServer((_req, res) => {
    serverRes = res;
    res.writeHead(200); // no Content-Length: chunked
    const chunk = Buffer.alloc(64 * 1024, 1);
    const pump = () => {
      // stop at 200 MiB: only reached if the client never aborts
      while (!res.destroyed && sent < 200 * MiB) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  });
  t.after(() => s.close());
  await rejects(client.fetchBuffer({ ...base, maxBytes: 2 * MiB, url: `${s.origin}/stream` }), "too_large");
  if (!serverRes!.destroyed) await once(serverRes!, "close");
  assert.equal(serverRes!.writableFinished, false, "the server finished sending the whole body");
  assert.ok(sent < 50 * MiB, `server managed to send ${sent} bytes`);
});

test("a body exactly at the cap is accepted (Content-Length and chunked)", async (t) => {
  const s = await startServer((req, res) => {
    if (req.url === "/cl") res.end(Buffer.alloc(MiB, 7));
    else {
      res.write(Buffer.alloc(MiB / 2, 7));
      res.end(Buffer.alloc(MiB / 2, 7));
    }
  });
  t.after(() => s.close());
  for (const p of ["/cl", "/chunked"]) {
    const res = await client.fetchBuffer({ ...base, maxBytes: MiB, url: `${s.origin}${p}` });
    assert.equal(res.body.length, MiB);
    assert.equal(res.body[MiB - 1], 7);
  }
});

test("a server that stalls before or during the body times out", async (t) => {
  const s = await startServer((req, res) => {
    if (req.url === "/mid") {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
    } // /silent never answers
  });
  t.after(() => s.close());
  for (const p of ["/silent", "/mid"]) {
    const started = Date.now();
    await rejects(client.fetchBuffer({ ...base, timeoutMs: 300, url: `${s.origin}${p}` }), "timeout");
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 2000, `${p} took ${took} ms`);
  }
});

test("the deadline covers the whole exchange, not each hop", async (t) => {
  // each hop answers in 150 ms; three hops exceed a 400 ms budget
  const s = await startServer((req, res) => {
    setTimeout(() => {
      const n = Number(req.url!.slice(1));
      if (n < 3) res.writeHead(302, { location: `/${n + 1}` }).end();
      else res.end("done");
    }, 150);
  });
  t.after(() => s.close());
  await rejects(client.fetchBuffer({ ...base, timeoutMs: 400, url: `${s.origin}/0` }), "timeout");
});

test("the caller's abort passes through as the abort reason, not as an OutboundError", async (t) => {
  const s = await startServer(() => {}); // never answers
  t.after(() => s.close());
  const ac = new AbortController();
  const reason = new Error("shutting down");
  setTimeout(() => ac.abort(reason), 50);
  const err = await client.fetchBuffer({ ...base, url: `${s.origin}/`, signal: ac.signal }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.equal(err, reason);
});

test("sockets per origin are bounded; extra requests queue", async (t) => {
  let open = 0;
  let peak = 0;
  const s = await startServer((_req, res) => {
    open++;
    peak = Math.max(peak, open);
    setTimeout(() => {
      open--;
      res.end("ok");
    }, 100);
  });
  t.after(() => s.close());
  const small = new GuardedClient(policy, { connectTimeoutMs: 2000, connectionsPerOrigin: 2 });
  t.after(() => small.close());
  const all = await Promise.all(Array.from({ length: 6 }, () => small.fetchBuffer({ ...base, url: `${s.origin}/` })));
  assert.ok(all.every((r) => r.body.toString() === "ok"));
  assert.equal(peak, 2);
});

test("a connection refused is a network error", async (t) => {
  const s = await startServer(() => {});
  const url = `${s.origin}/`;
  await s.close();
  await rejects(client.request({ ...base, url }), "network");
  t.diagnostic("port closed before the request");
});

test("function forms share one client per policy", async (t) => {
  const s = await startServer((_req, res) => res.end("shared"));
  t.after(() => s.close());
  const req = { ...base, url: `${s.origin}/`, policy, connectTimeoutMs: 2000 };
  const a = await guardedFetchBuffer(req);
  assert.equal(a.body.toString(), "shared");
  const b = await guardedRequest(req);
  b.body.destroy(); // dumping a body unread releases it
  assert.equal(b.status, 200);
  await closeGuardedClients();
  const c = await guardedFetchBuffer(req); // a fresh client after close
  assert.equal(c.body.toString(), "shared");
});
