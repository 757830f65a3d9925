import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { sleep, until } from "../helpers/polling.js";
import { servePeel } from "./serve.js";

/** A raw HTTP/1.1 client connection, to hold a request half-sent and read what comes back. */
async function connect(port: number): Promise<{ socket: net.Socket; data: () => string; closed: Promise<void> }> {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let buf = "";
  socket.on("data", (c: Buffer) => (buf += c.toString("utf8")));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { socket, data: () => buf, closed };
}

test("drain: /readyz turns 503 at once, new connections are refused, a request in flight is answered, idle connections close", async (t) => {
  const peel = await servePeel(t, { PEEL_SHUTDOWN_GRACE_MS: "10000" });
  const port = peel.config.port;
  const body = JSON.stringify({ model: "nano-banana-pro", input: { prompt: "a lighthouse held mid-upload" } });

  // An idle keep-alive connection (one request answered), and a request whose body is half sent.
  const idle = await connect(port);
  idle.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
  await until("the idle connection's answer", 5_000, async () => idle.data().includes("\r\n\r\n{"));
  const inFlight = await connect(port);
  inFlight.socket.write(
    `POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${peel.key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 20)}`,
  );
  await sleep(100);

  const closing = peel.served.close();
  const ready = await peel.served.app.inject({ method: "GET", url: "/readyz" });
  assert.equal(ready.statusCode, 503);
  assert.ok((ready.json() as { reasons: string[] }).reasons.includes("draining: the process is shutting down"));
  await idle.closed; // closed by the server, not waited out for the keep-alive timeout
  await assert.rejects(fetch(`${peel.url}/healthz`), "no new connections while draining");

  inFlight.socket.write(body.slice(20));
  await inFlight.closed;
  const answer = inFlight.data();
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.match(answer, /\r\nconnection: close\r\n/i);
  const json = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { code: number; data: { taskId: string } };
  assert.equal(json.code, 200);
  assert.match(json.data.taskId, /^[0-9a-f]{32}$/);
  await closing;
});
