/**
 * The wire schema of `POST /v1/chat/completions` requests (zod) and its
 * normalisation into the engine-facing {@link ChatRequest}.
 *
 * Unknown fields are ignored, as OpenAI does; known fields with a wrong type
 * or range are a 400 whose `param` names the field (`messages[2].role`).
 */
import { z } from "zod";
import { messageSchema, normaliseMessages, type ChatMessage } from "./chat-messages.js";
import { functionCallChoiceSchema, functionSchema, normaliseTools, toolChoiceSchema, toolName, toolSchema, type ToolSettings } from "./chat-tools.js";
import { assertValidJsonSchema } from "./json-schema.js";
import { invalidRequest, type ApiError } from "./errors.js";

export type { ChatMessage, ChatToolCall } from "./chat-messages.js";
export type { ToolChoice, ToolDefinition, ToolSettings } from "./chat-tools.js";

const jsonSchemaFormat = z.object({
  name: toolName,
  description: z.string().optional(),
  schema: z.record(z.string(), z.unknown()).optional(),
  strict: z.boolean().nullable().optional(),
});

const responseFormatSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({ type: z.literal("json_schema"), json_schema: jsonSchemaFormat }),
]);

const intTokens = z.number().int().min(1);

/** Template variables a request's own fields set, which `chat_template_kwargs` may not. */
const reservedTemplateVariables = new Set(["messages", "tools", "add_generation_prompt"]);

/** OpenAI's own limit; prompt rendering is quadratic in the message count. */
export const maxMessages = 2048;

export const chatCompletionRequestSchema = z.object({
  model: z.string().min(1),
  messages: z.array(messageSchema).min(1, "messages must contain at least one message").max(maxMessages, `at most ${maxMessages} messages`),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  top_k: z.number().int().min(-1).nullable().optional(),
  min_p: z.number().min(0).max(1).nullable().optional(),
  max_tokens: intTokens.nullable().optional(),
  max_completion_tokens: intTokens.nullable().optional(),
  stop: z
    .union([z.string().min(1), z.array(z.string().min(1)).max(4, "stop may contain at most 4 sequences")])
    .nullable()
    .optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  repetition_penalty: z.number().gt(0).max(2).nullable().optional(),
  logit_bias: z.record(z.string().regex(/^\d+$/, "keys must be token ids"), z.number().min(-100).max(100)).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  user: z.string().optional(),
  response_format: responseFormatSchema.nullable().optional(),
  tools: z.array(toolSchema).max(128, "at most 128 tools").nullable().optional(),
  tool_choice: toolChoiceSchema.nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  functions: z.array(functionSchema).max(128, "at most 128 functions").nullable().optional(),
  function_call: functionCallChoiceSchema.nullable().optional(),
  reasoning_effort: z.enum(["none", "minimal", "low", "medium", "high", "xhigh", "max"]).nullable().optional(),
  /** vLLM / llama-server extension: extra variables for the model's chat template, e.g. `{"enable_thinking": false}`. */
  chat_template_kwargs: z
    .record(z.string(), z.unknown())
    .refine((kwargs) => !Object.keys(kwargs).some((key) => reservedTemplateVariables.has(key)), {
      message: `must not set ${[...reservedTemplateVariables].join(", ")}: they come from the request itself`,
    })
    .nullable()
    .optional(),
  /** Output modalities and options chatport cannot produce: refused by {@link refuseUnsupportedOutputs}, never ignored. */
  modalities: z.array(z.string()).nullable().optional(),
  audio: z.unknown().optional(),
  web_search_options: z.unknown().optional(),
  /** vLLM extension: keep generating past end-of-generation tokens (benchmarks). */
  ignore_eos: z.boolean().optional(),
  /** MindIE extension: stream chunks carry `full_text`, the text so far. */
  fullTextEnabled: z.boolean().optional(),
  /** MindIE extension (opt-in): `usage.prefill_time` and `usage.decode_time_arr` in ms. */
  usage_timings: z.boolean().optional(),
});

export type ChatCompletionRequestBody = z.infer<typeof chatCompletionRequestSchema>;

export type ReasoningEffort = "none" | "minimal" | "low" | "medium" | "high";

/**
 * The SDK's efforts above `high` (`xhigh`, `max`) ask for the most thought a
 * model gives; a local model's most is `high`, an uncapped thought.
 */
function normaliseReasoningEffort(effort: ChatCompletionRequestBody["reasoning_effort"]): ReasoningEffort | null {
  if (effort === "xhigh" || effort === "max") return "high";
  return effort ?? null;
}

/**
 * Fields asking for output that no engine here produces (audio, web search
 * results) get a 400 naming the field: answering with plain text instead
 * would silently break the client's contract.
 */
function refuseUnsupportedOutputs(body: ChatCompletionRequestBody): void {
  const other = body.modalities?.find((modality) => modality !== "text");
  if (other !== undefined) {
    throw invalidRequest(`Output modality '${other}' is not supported: modalities may only contain 'text'.`, "modalities", "unsupported_value");
  }
  if (body.audio !== undefined && body.audio !== null) {
    throw invalidRequest("Audio output is not supported.", "audio", "unsupported_value");
  }
  if (body.web_search_options !== undefined && body.web_search_options !== null) {
    throw invalidRequest("Web search is not supported.", "web_search_options", "unsupported_value");
  }
}

export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; name: string; schema: Record<string, unknown>; strict: boolean };

export interface SamplingParams {
  temperature: number;
  topP: number;
  /** 0 disables. */
  topK: number;
  minP: number;
  presencePenalty: number;
  frequencyPenalty: number;
  repetitionPenalty: number;
  /** token id → additive logit bias (−100 bans, +100 forces). */
  logitBias: Map<number, number>;
  /** Unsigned 32-bit seed for choice 0; choice i uses seed + i. Null: random. */
  seed: number | null;
}

/** What an engine receives: validated, defaults applied, OpenAI quirks resolved. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  n: number;
  stream: boolean;
  includeUsage: boolean;
  /** Null: until the context is full. */
  maxTokens: number | null;
  stop: string[];
  sampling: SamplingParams;
  responseFormat: ResponseFormat;
  tools: ToolSettings;
  /** Null: no logprobs; otherwise how many alternatives per token (0–20). */
  logprobs: { top: number } | null;
  reasoningEffort: ReasoningEffort | null;
  /** Thinking tokens allowed before the thought is closed (Anthropic's `thinking.budget_tokens`); absent: the effort's budget. */
  thinkingBudget?: number;
  /** Extra chat-template variables (`chat_template_kwargs`); empty when none. */
  chatTemplateKwargs: Record<string, unknown>;
  ignoreEos: boolean;
  user: string | null;
  extras: { fullText: boolean; usageTimings: boolean };
  /**
   * The body as the client sent it (validated above, unknown fields kept), for
   * engines that forward it: an upstream gets the client's own fields, media
   * parts and extensions included.
   */
  wire: Readonly<Record<string, unknown>>;
  /**
   * The upstream endpoint (relative to a provider's base URL) that `wire` is
   * written for: chat completions, unless a surface forwards its own API.
   */
  upstreamEndpoint: UpstreamEndpoint;
  /**
   * The request in its surface's own API (the Responses body, a stored
   * conversation inlined), for an upstream provider that serves that API
   * (its `apis`): such a provider gets `body` at `endpoint` instead of `wire`.
   */
  native?: { endpoint: UpstreamEndpoint; body: Readonly<Record<string, unknown>> };
  /** Legacy completions: raw prompts the engine uses as they are, instead of rendering `messages` through a chat template. */
  rawPrompt?: RawPrompt;
}

/**
 * Raw prompts (`POST /v1/completions`): text or token ids, no chat template.
 * `n` choices are spread evenly over the prompts: choice i answers prompt
 * ⌊i / (n / prompts.length)⌋.
 */
export interface RawPrompt {
  prompts: ReadonlyArray<string | readonly number[]>;
  /** Fill-in-the-middle: the text after the insertion point (models with FIM tokens only). Null: none. */
  suffix: string | null;
  /** Each choice first repeats its prompt as content. */
  echo: boolean;
  /**
   * With echo: the echoed prompt's own logprobs, this many alternatives per
   * token (the first token's are null); null: none.
   */
  promptLogprobs: number | null;
}

/** Endpoints of an OpenAI-compatible upstream that a request body can be forwarded to. */
export type UpstreamEndpoint = "chat/completions" | "completions" | "responses" | "embeddings" | "messages";

export interface ParseOptions {
  /** The model accepts non-text content parts (an upstream multimodal model). */
  media?: boolean;
}

/** `["messages", 2, "role"]` → `messages[2].role` */
export function formatParamPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** A zod issue → a 400 whose `param` names the field. */
export function issueToError(issue: z.core.$ZodIssue): ApiError {
  const param = formatParamPath(issue.path);
  let message = issue.message;
  const options = (issue as { options?: unknown }).options;
  if (issue.code === "invalid_union" && Array.isArray(options)) {
    message = `Invalid value for '${param}': expected one of ${options.map((o) => `'${String(o)}'`).join(", ")}.`;
  } else if (param !== "") {
    message = `Invalid '${param}': ${issue.message}`;
  }
  return invalidRequest(message, param === "" ? null : param, "invalid_value");
}

function normaliseResponseFormat(body: ChatCompletionRequestBody): ResponseFormat {
  const rf = body.response_format;
  if (rf === undefined || rf === null || rf.type === "text") return { type: "text" };
  if (rf.type === "json_object") return { type: "json_object" };
  const schema = rf.json_schema.schema ?? {};
  assertValidJsonSchema(schema, "response_format.json_schema.schema", "response_format");
  return {
    type: "json_schema",
    name: rf.json_schema.name,
    schema,
    strict: rf.json_schema.strict ?? false,
  };
}

/**
 * Sampler parameters are single-precision in llama.cpp: a temperature or a
 * repetition penalty that is positive but tiny (1e-40, 1e-300) divides logits
 * into infinities, the probabilities become NaN, and a grammar-constrained
 * choice then picks a token its grammar forbids (which crashed the process).
 * Below this bound both have reached their limit already (a temperature
 * picks the most likely token; a penalty forces repeated tokens), so a
 * temperature becomes 0 (greedy) and a penalty this bound.
 */
export const minSamplerDivisor = 1e-6;

function normaliseLogitBias(raw: Record<string, number> | null | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const [key, value] of Object.entries(raw ?? {})) out.set(Number(key), value);
  return out;
}

/**
 * How deeply a body may nest (the body itself is level 1). JSON.parse copes with
 * any depth, but what walks the body afterwards recurses — JSON Schema checks,
 * grammar compilers, JSON.stringify of the body forwarded to an upstream — and a
 * stack overflow there would be a 500.
 */
export const maxNestingDepth = 128;

/** The top-level field whose value nests deeper than `limit`, or null. Iterative: a hostile body cannot overflow the stack here. */
function tooDeep(body: object, limit: number): string | null {
  for (const [field, value] of Object.entries(body)) {
    const nodes: unknown[] = [value];
    const depths: number[] = [2];
    while (nodes.length > 0) {
      const node = nodes.pop();
      const depth = depths.pop() ?? 0;
      if (typeof node !== "object" || node === null) continue;
      if (depth > limit) return field;
      for (const child of Array.isArray(node) ? node : Object.values(node)) {
        if (typeof child !== "object" || child === null) continue;
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return null;
}

/** Throws a 400 unless the body is a JSON object nested at most {@link maxNestingDepth} levels deep. */
export function assertBodyObject(raw: unknown): asserts raw is Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw invalidRequest("The request body must be a JSON object.", null, "invalid_body");
  }
  const deep = tooDeep(raw, maxNestingDepth);
  if (deep !== null) {
    throw invalidRequest(`Invalid '${deep}': nested more than ${maxNestingDepth} levels deep.`, deep, "invalid_value");
  }
}

/** Parse an untrusted JSON body into a ChatRequest, or throw an ApiError (400). */
export function parseChatRequest(raw: unknown, options: ParseOptions = {}): ChatRequest {
  assertBodyObject(raw);
  const parsed = chatCompletionRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw first === undefined ? invalidRequest("Invalid request body.") : issueToError(first);
  }
  const body = parsed.data;

  if (body.top_logprobs != null && body.logprobs !== true) {
    throw invalidRequest("top_logprobs needs logprobs set to true.", "top_logprobs");
  }
  if (body.stream_options != null && body.stream !== true) {
    throw invalidRequest("stream_options is only allowed when stream is true.", "stream_options");
  }
  refuseUnsupportedOutputs(body);

  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  const seed = body.seed == null ? null : Number(BigInt.asUintN(32, BigInt(body.seed)));
  const topK = body.top_k ?? 0;

  return {
    model: body.model,
    messages: normaliseMessages(body.messages, body.model, options.media === true),
    n: body.n ?? 1,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? null,
    stop,
    sampling: {
      temperature: body.temperature != null && body.temperature < minSamplerDivisor ? 0 : (body.temperature ?? 1),
      topP: body.top_p ?? 1,
      topK: topK < 0 ? 0 : topK,
      minP: body.min_p ?? 0,
      presencePenalty: body.presence_penalty ?? 0,
      frequencyPenalty: body.frequency_penalty ?? 0,
      repetitionPenalty: Math.max(body.repetition_penalty ?? 1, minSamplerDivisor),
      logitBias: normaliseLogitBias(body.logit_bias),
      seed,
    },
    responseFormat: normaliseResponseFormat(body),
    tools: normaliseTools(body),
    logprobs: body.logprobs === true ? { top: body.top_logprobs ?? 0 } : null,
    reasoningEffort: normaliseReasoningEffort(body.reasoning_effort),
    chatTemplateKwargs: body.chat_template_kwargs ?? {},
    ignoreEos: body.ignore_eos === true,
    user: body.user ?? null,
    extras: { fullText: body.fullTextEnabled === true, usageTimings: body.usage_timings === true },
    wire: raw as Record<string, unknown>,
    upstreamEndpoint: "chat/completions",
  };
}
