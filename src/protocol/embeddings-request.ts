/**
 * `POST /v1/embeddings` requests: the wire body (zod for the plain fields,
 * a hand-written reader for `input`, whose four shapes a zod union could
 * only refuse as a whole) → a normalised {@link EmbeddingsRequest}, or a 400
 * whose `param` names the field (`input[3]`). Pure, no I/O.
 */
import { z } from "zod";
import { assertBodyObject, issueToError } from "./chat-request.js";
import { invalidRequest } from "./errors.js";

/** One input: text the model tokenizes, or token ids given by the client. */
export type EmbeddingInput = { readonly kind: "text"; readonly text: string } | { readonly kind: "tokens"; readonly tokens: readonly number[] };

export type EmbeddingEncoding = "float" | "base64";

export interface EmbeddingsRequest {
  model: string;
  /** In the client's order; the response's `index` is the position here. */
  inputs: readonly EmbeddingInput[];
  /** True when `input` was an array (of strings or of token arrays): where an error names `input[i]`. */
  inputIsList: boolean;
  encoding: EmbeddingEncoding;
  /** Requested vector length (Matryoshka truncation), or null for the model's own. */
  dimensions: number | null;
  user: string | null;
  /** The body as the client sent it: what an upstream is forwarded. */
  wire: Readonly<Record<string, unknown>>;
}

/** OpenAI's limit on the inputs of one request. */
export const MAX_EMBEDDING_INPUTS = 2048;

const embeddingsBodySchema = z.object({
  model: z.string().min(1),
  input: z.unknown(),
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: z.number().int().min(1).nullish(),
  user: z.string().nullish(),
});

const isTokenId = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0x7fffffff;

function tokenArray(values: readonly unknown[], param: string): EmbeddingInput {
  if (values.length === 0) throw invalidRequest(`Invalid '${param}': an array of token ids must not be empty.`, param, "invalid_value");
  const bad = values.findIndex((v) => !isTokenId(v));
  if (bad >= 0) throw invalidRequest(`Invalid '${param}[${bad}]': a token id must be a non-negative integer.`, `${param}[${bad}]`, "invalid_value");
  return { kind: "tokens", tokens: values as number[] };
}

function text(value: string, param: string): EmbeddingInput {
  if (value === "") throw invalidRequest(`Invalid '${param}': the input must not be an empty string.`, param, "invalid_value");
  return { kind: "text", text: value };
}

/** `input`: a string, an array of strings, an array of token ids, or an array of arrays of token ids. */
function readInputs(input: unknown): { inputs: EmbeddingInput[]; list: boolean } {
  if (typeof input === "string") return { inputs: [text(input, "input")], list: false };
  if (!Array.isArray(input)) {
    throw invalidRequest("Invalid 'input': expected a string, an array of strings, an array of token ids or an array of arrays of token ids.", "input", "invalid_value");
  }
  if (input.length === 0) throw invalidRequest("Invalid 'input': the array must not be empty.", "input", "invalid_value");
  // An array that starts with a number is one input of token ids (a bad id is named by its index).
  if (typeof input[0] === "number") return { inputs: [tokenArray(input, "input")], list: false };
  if (input.length > MAX_EMBEDDING_INPUTS) {
    throw invalidRequest(`Invalid 'input': at most ${MAX_EMBEDDING_INPUTS} inputs per request, got ${input.length}.`, "input", "invalid_value");
  }
  const first: unknown = input[0];
  const inputs = input.map((item: unknown, i): EmbeddingInput => {
    const param = `input[${i}]`;
    if (typeof first === "string" && typeof item === "string") return text(item, param);
    if (Array.isArray(first) && Array.isArray(item)) return tokenArray(item, param);
    throw invalidRequest(`Invalid '${param}': every item of 'input' must be of one kind (all strings or all arrays of token ids).`, param, "invalid_value");
  });
  return { inputs, list: true };
}

/** Parse an untrusted JSON body into an EmbeddingsRequest, or throw an ApiError (400). */
export function parseEmbeddingsRequest(raw: unknown): EmbeddingsRequest {
  assertBodyObject(raw);
  const parsed = embeddingsBodySchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw first === undefined ? invalidRequest("Invalid request body.") : issueToError(first);
  }
  const body = parsed.data;
  if (body.input === undefined) throw invalidRequest("Missing required parameter: 'input'.", "input", "missing_required_parameter");
  const { inputs, list } = readInputs(body.input);
  return {
    model: body.model,
    inputs,
    inputIsList: list,
    encoding: body.encoding_format ?? "float",
    dimensions: body.dimensions ?? null,
    user: body.user ?? null,
    wire: raw,
  };
}

/** The `param` an error about input `index` names: `input[i]` for a list, `input` for a single input. */
export function inputParam(request: Pick<EmbeddingsRequest, "inputIsList">, index: number): string {
  return request.inputIsList ? `input[${index}]` : "input";
}

/** Special tokens a tokenizer may put around one input (BOS and EOS, CLS and SEP). */
const SPECIAL_TOKENS_PER_INPUT = 2;

const utf8 = new TextEncoder();

/**
 * How many tokens the inputs will be upstream, at most (the tokenizer is
 * elsewhere): one token per UTF-8 byte of text at most, as in
 * prompt-estimate.ts, token ids as given, and the special tokens around each.
 */
export function embeddingTokensUpperBound(request: Pick<EmbeddingsRequest, "inputs">): number {
  let tokens = 0;
  for (const input of request.inputs) {
    tokens += SPECIAL_TOKENS_PER_INPUT + (input.kind === "text" ? utf8.encode(input.text).length : input.tokens.length);
  }
  return tokens;
}
