import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { KIE_ERRORS, PROTOCOL_ERRORS } from "../../src/errors.js";
import { clientErrorHandler } from "../../src/http/error-handler.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";
import { httpRequest, rawRequest, type RawResponse } from "../helpers/raw-http.js";

// Issue 10 §2: answers that Node's HTTP parser or Fastify's router give before any route runs are
// still the kie envelope `{code,msg,data}`, with the right status. Raw sockets, because fetch()
// and inject() cannot send broken framing.

let peel: TestPeel;
let port: number;
before(async () => {
  peel = await startPeel({ env: { PEEL_ADMIN_TOKEN: "protocol-test-admin-token" } });
  port = Number(new URL(peel.url).port);
});
after(() => peel.close());

const auth = () => ({ authorization: `Bearer ${peel.key}` });

function assertEnvelope(res: RawResponse, status: number, def: { code: number; msg: string }): void {
  assert.equal(res.status, status, res.text.slice(0, 300));
  assert.match(res.headers["content-type"] ?? "", /^application\/json/);
  assert.deepEqual(res.json, { code: def.code, msg: def.msg, data: null });
}

describe("Node-level client errors (clientErrorHandler)", () => {
  const cases: [string, string | Buffer, number, { code: number; msg: string }][] = [
    [
      "a Content-Length that is not a number",
      "POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
      400,
      PROTOCOL_ERRORS.bad_request,
    ],
    [
      "two different Content-Lengths",
      "POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
      400,
      PROTOCOL_ERRORS.bad_request,
    ],
    [
      "Content-Length together with Transfer-Encoding",
      "POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
      PROTOCOL_ERRORS.bad_request,
    ],
    [
      "a Transfer-Encoding that is not chunked",
      "POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
      400,
      PROTOCOL_ERRORS.bad_request,
    ],
    [
      "a malformed chunk size",
      "POST /api/v1/jobs/createTask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
      400,
      PROTOCOL_ERRORS.bad_request,
    ],
    ["an invalid method", "G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, PROTOCOL_ERRORS.bad_request],
    ["binary garbage", Buffer.from([0, 1, 2, 3, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]), 400, PROTOCOL_ERRORS.bad_request],
    [
      "headers over Node's limit",
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
      431,
      PROTOCOL_ERRORS.headers_too_large,
    ],
  ];
  for (const [name, bytes, status, def] of cases) {
    test(name, async () => {
      const res = await rawRequest(port, bytes);
      assertEnvelope(res, status, def);
      assert.equal(res.headers.connection, "close");
      assert.ok(res.closed, "the connection is closed after a framing error");
    });
  }

  test("Expect with anything but 100-continue → 417 in the envelope", async () => {
    const res = await rawRequest(port, httpRequest("POST", "/api/v1/jobs/createTask", { ...auth(), expect: "200-ok" }, "{}"));
    assertEnvelope(res, 417, PROTOCOL_ERRORS.expectation_failed);
  });

  test("Expect: 100-continue still works", async () => {
    const res = await rawRequest(
      port,
      httpRequest("POST", "/api/v1/jobs/createTask", { ...auth(), expect: "100-continue" }, "{}"),
    );
    // Node sends `100 Continue` first; the real answer follows
    const final = res.text.slice(res.text.indexOf("HTTP/1.1", 1));
    assert.match(res.text, /^HTTP\/1\.1 100 Continue/);
    assert.match(final, /^HTTP\/1\.1 200 /);
    assert.ok(final.includes(JSON.stringify({ code: 422, msg: "model is required", data: null })), final);
  });

  test("request timeout (ERR_HTTP_REQUEST_TIMEOUT) → 408 in the envelope, written on the real socket", async () => {
    // The app's 120 s request timeout is too long for a test: drive the handler with the error
    // Node raises, on a real socket pair.
    const server = net.createServer((socket) => {
      const err = Object.assign(new Error("Request timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" });
      clientErrorHandler(err, socket);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const res = await rawRequest((server.address() as net.AddressInfo).port, "GET / HTTP/1.1\r\n");
      assertEnvelope(res, 408, PROTOCOL_ERRORS.request_timeout);
    } finally {
      server.close();
    }
  });
});

describe("router errors (frameworkErrors)", () => {
  test("a malformed percent-escape in a /files path → 404 in the kie envelope", async () => {
    const res = await rawRequest(port, httpRequest("GET", "/files/%zz"));
    assertEnvelope(res, 404, KIE_ERRORS.route_not_found);
    const head = await rawRequest(port, httpRequest("HEAD", "/files/r/%zz/a.png"));
    assert.equal(head.status, 404);
  });

  test("a malformed percent-escape in an API path → 404 in the kie envelope", async () => {
    assertEnvelope(await rawRequest(port, httpRequest("GET", "/api/v1/jobs/%zz", auth())), 404, KIE_ERRORS.route_not_found);
    assertEnvelope(
      await rawRequest(port, httpRequest("POST", "/api/v1/%E0%A4%A", auth(), "{}")),
      404,
      KIE_ERRORS.route_not_found,
    );
  });

  test("recordInfo?taskId=%zz answers in the envelope (an unknown task)", async () => {
    const res = await rawRequest(port, httpRequest("GET", "/api/v1/jobs/recordInfo?taskId=%zz", auth()));
    assertEnvelope(res, 200, KIE_ERRORS.record_not_found);
  });

  test("under /admin/ the answer is the admin API's own 404", async () => {
    const res = await rawRequest(
      port,
      httpRequest("GET", "/admin/v1/%zz", { authorization: "Bearer protocol-test-admin-token" }),
    );
    assert.equal(res.status, 404);
    assert.equal(res.json?.error?.code, "route_not_found");
  });
});
