import { Type, type TSchema } from "@sinclair/typebox";
import { acceptedFormats, MODELS, type ModelSpec } from "../domain/models.js";
import { MAX_URL_LENGTH } from "../domain/validation.js";

/**
 * OpenAPI schemas, derived from the same ModelSpecs that validation.ts enforces (so the docs and
 * the validator cannot disagree), plus the response shapes of docs/kie-contract.md §4–§10.
 */

const Url = Type.String({ format: "uri", maxLength: MAX_URL_LENGTH });

/**
 * A string enum as one flat OpenAPI `enum` (Swagger UI shows a drop-down; code generators make an
 * enum type). Type.Union of literals would render as an `anyOf` of one-value enums.
 */
const StringEnum = (values: readonly string[], opts: { default?: string | null; description?: string } = {}): TSchema =>
  Type.Unsafe<string>({
    type: "string",
    enum: [...values],
    ...(opts.default != null ? { default: opts.default } : {}),
    ...(opts.description ? { description: opts.description } : {}),
  });

function inputSchema(m: ModelSpec): TSchema {
  const props: Record<string, TSchema> = {
    prompt: Type.String({
      minLength: 1,
      maxLength: m.promptMax,
      description: `1–${m.promptMax} characters; not only whitespace`,
    }),
  };
  if (m.imageField) {
    props[m.imageField] = m.imageRequired
      ? Type.Array(Url, { minItems: 1, maxItems: m.imageMax, description: `JPEG/PNG/WebP URLs, at most ${m.imageMax}` })
      : Type.Optional(
          Type.Array(Url, { maxItems: m.imageMax, default: [], description: `JPEG/PNG/WebP URLs, at most ${m.imageMax}` }),
        );
  }
  props[m.ratioField] = Type.Optional(StringEnum(m.ratios, { default: m.ratioDefault }));
  if (m.resolutions) {
    props.resolution = Type.Optional(StringEnum(m.resolutions, { default: m.resolutionDefault }));
  }
  const formats = acceptedFormats(m);
  if (formats.length > 0) {
    const jpeg = formats.includes("jpg") && formats.includes("jpeg") ? "; `jpg` and `jpeg` are the same value" : "";
    const description = `kie documents ${m.formats.map((f) => `\`${f}\``).join(", ")}${jpeg}`;
    props.output_format = Type.Optional(StringEnum(formats, { default: m.formatDefault, description }));
  }
  if (m.hasGoogleSearch) {
    props.google_search = Type.Optional(
      Type.Boolean({ default: false, description: "ground the image on Google Search (sent to Google as its search tool)" }),
    );
  }
  return Type.Object(props, { additionalProperties: true });
}

export const CreateTaskBodySchema = Type.Union(
  MODELS.map((m) =>
    Type.Object(
      {
        model: Type.Literal(m.id),
        callBackUrl: Type.Optional(Type.Union([Url, Type.Null()], { description: 'absent, null or "" → no callback' })),
        input: inputSchema(m),
      },
      { title: m.id, description: m.summary, additionalProperties: true },
    ),
  ),
);

export const RecordInfoQuerySchema = Type.Object({ taskId: Type.String({ minLength: 1 }) });
export const CancelBodySchema = Type.Object({ taskId: Type.String() });

export const TaskIdDataSchema = Type.Object({ taskId: Type.String({ pattern: "^[0-9a-f]{32}$" }) });

export const RecordInfoSchema = Type.Object({
  taskId: Type.String(),
  model: Type.String(),
  state: StringEnum(["waiting", "queuing", "generating", "success", "fail"]),
  param: Type.String({ description: "JSON text of the createTask body as received" }),
  resultJson: Type.String({ description: 'JSON text {"resultUrls":[...]} on success, else ""' }),
  failCode: Type.String(),
  failMsg: Type.String(),
  costTime: Type.Integer(),
  completeTime: Type.Union([Type.Integer(), Type.Null()]),
  createTime: Type.Integer(),
  updateTime: Type.Integer(),
  consumeCredits: Type.Number(),
  creditsConsumed: Type.Number(),
});

/** `{code, msg, data}`; data is null on every error. */
export function kieResponse(data: TSchema): TSchema {
  // `nullable` (OpenAPI 3.0) rather than a union with null: the serializer compiles it to one
  // branch instead of trying each schema of an anyOf per response.
  return Type.Object({ code: Type.Integer(), msg: Type.String(), data: Type.Unsafe({ ...data, nullable: true }) });
}

export const UploadDataSchema = Type.Object({
  fileName: Type.String(),
  filePath: Type.String(),
  downloadUrl: Type.String(),
  fileUrl: Type.String(),
  fileSize: Type.Integer(),
  mimeType: Type.String(),
  uploadedAt: Type.String(),
  expiresAt: Type.String(),
});

export function uploadResponse(data: TSchema): TSchema {
  return Type.Object({
    success: Type.Boolean(),
    code: Type.Integer(),
    msg: Type.String(),
    data: Type.Union([data, Type.Null()]),
  });
}
