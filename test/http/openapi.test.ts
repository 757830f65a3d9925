import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { acceptedFormats, MODELS } from "../../src/domain/models.js";
import { startPeel, type TestPeel } from "../helpers/harness.js";

/**
 * /openapi.json: valid JSON, every public kie path, and a createTask body schema whose enums are
 * exactly the ModelSpecs' (src/domain/models.ts), the same lists validation enforces.
 */

let peel: TestPeel;
let doc: any;
before(async () => {
  peel = await startPeel({ background: false });
  const res = await fetch(`${peel.url}/openapi.json`); // no auth needed
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  doc = JSON.parse(await res.text());
});
after(() => peel.close());

/** The allowed values of a string schema, whether written as `enum`, `const` or an anyOf of them. */
function enumOf(schema: any): string[] {
  if (Array.isArray(schema.enum)) return schema.enum;
  if (schema.const !== undefined) return [schema.const];
  if (Array.isArray(schema.anyOf)) return schema.anyOf.flatMap(enumOf);
  throw new Error(`no enum in ${JSON.stringify(schema)}`);
}

function bodySchemaFor(model: string): any {
  const schema = doc.paths["/api/v1/jobs/createTask"].post.requestBody.content["application/json"].schema;
  const variants = schema.anyOf ?? schema.oneOf ?? [schema];
  const v = variants.find((s: any) => enumOf(s.properties.model).includes(model));
  assert.ok(v, `a body schema for ${model}`);
  return v;
}

describe("/openapi.json", () => {
  test("is an OpenAPI 3 document about peel", () => {
    assert.match(doc.openapi, /^3\./);
    assert.equal(typeof doc.info.title, "string");
    assert.equal(typeof doc.info.version, "string");
    assert.deepEqual(doc.servers, [{ url: peel.url }]);
    assert.equal(doc.components.securitySchemes.bearer.scheme, "bearer");
  });

  test("has the kie paths with their methods", () => {
    const want: Array<[string, string]> = [
      ["/api/v1/jobs/createTask", "post"],
      ["/api/v1/jobs/recordInfo", "get"],
      ["/api/v1/chat/credit", "get"],
      ["/api/v1/common/download-url", "post"],
      ["/api/file-base64-upload", "post"],
      ["/api/file-stream-upload", "post"],
      ["/api/file-url-upload", "post"],
    ];
    for (const [p, m] of want) assert.ok(doc.paths[p]?.[m], `${m.toUpperCase()} ${p}`);
    // internal routes are not documented
    for (const p of Object.keys(doc.paths)) assert.ok(!p.startsWith("/files") && p !== "/openapi.json" && p !== "/healthz", p);
  });

  test("recordInfo documents its taskId query parameter and the record fields", () => {
    const op = doc.paths["/api/v1/jobs/recordInfo"].get;
    assert.ok(op.parameters.some((p: any) => p.in === "query" && p.name === "taskId"));
    const data = op.responses["200"].content["application/json"].schema.properties.data;
    const rec = (data.anyOf ?? [data]).find((s: any) => s.properties?.taskId);
    assert.deepEqual(Object.keys(rec.properties).sort(), [
      "completeTime",
      "consumeCredits",
      "costTime",
      "createTime",
      "creditsConsumed",
      "failCode",
      "failMsg",
      "model",
      "param",
      "resultJson",
      "state",
      "taskId",
      "updateTime",
    ]);
    assert.deepEqual(enumOf(rec.properties.state), ["waiting", "queuing", "generating", "success", "fail"]);
  });

  test("the stream upload is multipart", () => {
    const op = doc.paths["/api/file-stream-upload"].post;
    assert.ok(JSON.stringify(op).includes("multipart/form-data"));
  });
});

describe("createTask body schema = ModelSpec", () => {
  for (const spec of MODELS) {
    test(`${spec.id}`, () => {
      const s = bodySchemaFor(spec.id);
      assert.deepEqual(enumOf(s.properties.model), [spec.id]);
      assert.deepEqual([...s.required].sort(), ["input", "model"]);
      const input = s.properties.input;
      assert.deepEqual(input.required, spec.imageRequired ? ["prompt", spec.imageField] : ["prompt"]);
      assert.equal(input.properties.prompt.maxLength, spec.promptMax);
      assert.deepEqual(enumOf(input.properties[spec.ratioField]), [...spec.ratios]);
      assert.equal(input.properties[spec.ratioField].default, spec.ratioDefault);
      if (spec.formats.length > 0) {
        assert.deepEqual(enumOf(input.properties.output_format), [...acceptedFormats(spec)]);
        for (const f of spec.formats) assert.ok(acceptedFormats(spec).includes(f));
        assert.equal(input.properties.output_format.default, spec.formatDefault);
      } else {
        assert.equal(input.properties.output_format, undefined, "a model without output_format shows none");
      }
      if (spec.resolutions) {
        assert.deepEqual(enumOf(input.properties.resolution), [...spec.resolutions]);
        assert.equal(input.properties.resolution.default, spec.resolutionDefault);
      } else {
        assert.equal(input.properties.resolution, undefined);
      }
      if (spec.imageField) assert.equal(input.properties[spec.imageField].maxItems, spec.imageMax);
    });
  }

  test("nano-banana-pro's enums, spelled out (§4.1)", () => {
    const input = bodySchemaFor("nano-banana-pro").properties.input.properties;
    assert.deepEqual(enumOf(input.aspect_ratio), [
      "1:1",
      "2:3",
      "3:2",
      "3:4",
      "4:3",
      "4:5",
      "5:4",
      "9:16",
      "16:9",
      "21:9",
      "auto",
    ]);
    assert.deepEqual(enumOf(input.resolution), ["1K", "2K", "4K"]);
    assert.deepEqual(enumOf(input.output_format), ["png", "jpg", "jpeg"]);
    assert.equal(input.image_input.maxItems, 8);
    assert.equal(input.prompt.maxLength, 10_000);
    // written as a flat enum (a drop-down in Swagger UI), not an anyOf of one-value enums
    assert.ok(Array.isArray(input.aspect_ratio.enum));
  });
});

test("nano-banana-2-lite is documented: image_urls ≤ 10, the 15 ratios (auto default), resolution 1K only, no output_format", () => {
  const input = bodySchemaFor("nano-banana-2-lite").properties.input.properties;
  assert.equal(input.image_urls.maxItems, 10);
  assert.equal(enumOf(input.aspect_ratio).length, 15);
  assert.equal(input.aspect_ratio.default, "auto");
  assert.deepEqual(enumOf(input.resolution), ["1K"]);
  assert.equal(input.output_format, undefined);
  assert.equal(input.google_search, undefined);
});
