/**
 * The wire schema of `POST /v1/responses` (zod) and its translation into a
 * chat-completions body, which `parseChatRequest` turns into the internal
 * {@link ChatRequest}: the Responses API is one more surface on the same
 * engines, and an upstream model that speaks only chat completions gets the
 * translated body (`ChatRequest.wire`).
 *
 * Input items: messages (`input_text`, `output_text`, `refusal`,
 * `input_image` for models that take media), `function_call`,
 * `function_call_output`, `reasoning` (its text goes back to the model as
 * the next assistant turn's thought). A stored conversation's items come
 * first (`previous_response_id`, resolved by the route).
 */
import { z } from "zod";
import { assertBodyObject, issueToError, parseChatRequest, type ChatRequest, type ParseOptions } from "./chat-request.js";
import { toolName } from "./chat-tools.js";
import { ApiError, invalidRequest } from "./errors.js";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const inputText = z.object({ type: z.literal("input_text"), text: z.string() });
const outputText = z.object({ type: z.literal("output_text"), text: z.string() }).passthrough();
const refusal = z.object({ type: z.literal("refusal"), refusal: z.string() });
const inputImage = z.object({
  type: z.literal("input_image"),
  image_url: z.string().nullable().optional(),
  file_id: z.string().nullable().optional(),
  detail: z.enum(["auto", "low", "high"]).optional(),
});
const inputFile = z.object({ type: z.literal("input_file") }).passthrough();
const contentPart = z.discriminatedUnion("type", [inputText, outputText, refusal, inputImage, inputFile]);

const messageItem = z.object({
  type: z.literal("message"),
  id: z.string().optional(),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(contentPart)]),
  status: z.string().optional(),
});
const functionCallItem = z.object({
  type: z.literal("function_call"),
  id: z.string().optional(),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  status: z.string().optional(),
});
const functionCallOutputItem = z.object({
  type: z.literal("function_call_output"),
  id: z.string().optional(),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(contentPart)]),
  status: z.string().optional(),
});
const reasoningItem = z.object({
  type: z.literal("reasoning"),
  id: z.string().optional(),
  summary: z.array(z.object({ type: z.literal("summary_text"), text: z.string() })).default([]),
  content: z.array(z.object({ type: z.literal("reasoning_text"), text: z.string() })).nullable().optional(),
  encrypted_content: z.string().nullable().optional(),
  status: z.string().optional(),
});
const itemReference = z.object({ type: z.literal("item_reference"), id: z.string() });

/** An item without `type` but with a `role` is a message (EasyInputMessage). */
export const inputItemSchema = z.preprocess(
  (item) => (isRecord(item) && item.type === undefined && "role" in item ? { ...item, type: "message" } : item),
  z.discriminatedUnion("type", [messageItem, functionCallItem, functionCallOutputItem, reasoningItem, itemReference]),
);

export type ResponseInputItem = z.infer<typeof inputItemSchema>;

const functionTool = z.object({
  type: z.literal("function"),
  name: toolName,
  description: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

const textFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    name: toolName,
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullable().optional(),
  }),
]);

export const responsesRequestSchema = z.object({
  model: z.string().min(1),
  /** Items are parsed one by one (below), so an error names the field inside the item: `input[2].role`. */
  input: z.union([z.string(), z.array(z.unknown()).max(2048, "at most 2048 items")]),
  instructions: z.string().nullable().optional(),
  tools: z.array(z.union([functionTool, z.object({ type: z.string() }).passthrough()])).max(128, "at most 128 tools").nullable().optional(),
  tool_choice: z
    .union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), name: z.string() })])
    .nullable()
    .optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  text: z.object({ format: textFormat.optional(), verbosity: z.string().nullable().optional() }).nullable().optional(),
  reasoning: z
    .object({
      effort: z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]).nullable().optional(),
      summary: z.enum(["auto", "concise", "detailed"]).nullable().optional(),
      generate_summary: z.enum(["auto", "concise", "detailed"]).nullable().optional(),
    })
    .nullable()
    .optional(),
  max_output_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  metadata: z
    .record(z.string().max(64), z.string().max(512))
    .refine((m) => Object.keys(m).length <= 16, "at most 16 keys")
    .nullable()
    .optional(),
  user: z.string().optional(),
  store: z.boolean().nullable().optional(),
  previous_response_id: z.string().min(1).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  truncation: z.enum(["auto", "disabled"]).nullable().optional(),
  include: z.array(z.string()).nullable().optional(),
  background: z.boolean().nullable().optional(),
  conversation: z.unknown().optional(),
  prompt: z.unknown().optional(),
});

export type ResponsesRequestBody = z.infer<typeof responsesRequestSchema>;

/** A Responses request: the internal request, and what the response object echoes and storage keeps. */
export interface ResponsesRequest {
  chat: ChatRequest;
  body: ResponsesRequestBody;
  /** This request's own input as items (a string input is one user message). */
  input: ResponseInputItem[];
  store: boolean;
  previousResponseId: string | null;
}

/** The `previous_response_id` of a body not yet validated (the route loads that conversation before parsing). */
export function peekPreviousResponseId(body: unknown): string | null {
  if (!isRecord(body)) return null;
  const id = body.previous_response_id;
  return typeof id === "string" && id !== "" ? id : null;
}

type ChatWireMessage = Record<string, unknown> & { role: string };

function partText(part: z.infer<typeof contentPart>): string | null {
  if (part.type === "input_text" || part.type === "output_text") return part.text;
  if (part.type === "refusal") return part.refusal;
  return null;
}

/** Items (the stored conversation's, then this request's) → chat messages; `param` names this request's items. */
function toChatMessages(items: readonly ResponseInputItem[], firstOwn: number): ChatWireMessage[] {
  const messages: ChatWireMessage[] = [];
  let thought: string | null = null;
  const paramOf = (i: number): string => (i >= firstOwn ? `input[${i - firstOwn}]` : "previous_response_id");
  const assistant = (): ChatWireMessage => {
    const last = messages.at(-1);
    if (last?.role === "assistant" && thought === null) return last;
    const message: ChatWireMessage = { role: "assistant", content: null };
    if (thought !== null) message.reasoning_content = thought;
    thought = null;
    messages.push(message);
    return message;
  };
  for (const [i, item] of items.entries()) {
    switch (item.type) {
      case "message": {
        if (item.role === "assistant") {
          const text = typeof item.content === "string" ? item.content : item.content.map(partText).filter((t) => t !== null).join("");
          const message = assistant();
          message.content = `${typeof message.content === "string" ? message.content : ""}${text}`;
          break;
        }
        const role = item.role === "developer" ? "system" : item.role;
        if (typeof item.content === "string") {
          messages.push({ role, content: item.content });
          break;
        }
        const parts = item.content.map((part, j) => {
          const text = partText(part);
          if (text !== null) return { type: "text", text };
          if (part.type === "input_image" && role === "user" && typeof part.image_url === "string") {
            return { type: "image_url", image_url: { url: part.image_url, detail: part.detail ?? "auto" } };
          }
          throw invalidRequest(`Content part type '${part.type}' is not supported here.`, `${paramOf(i)}.content[${j}].type`, "unsupported_content_type");
        });
        messages.push({ role, content: parts });
        break;
      }
      case "function_call": {
        const message = assistant();
        const calls = (message.tool_calls as unknown[] | undefined) ?? [];
        calls.push({ id: item.call_id, type: "function", function: { name: item.name, arguments: item.arguments } });
        message.tool_calls = calls;
        break;
      }
      case "function_call_output": {
        const output = typeof item.output === "string" ? item.output : item.output.map(partText).filter((t) => t !== null).join("");
        messages.push({ role: "tool", tool_call_id: item.call_id, content: output });
        break;
      }
      case "reasoning": {
        const text = [...(item.content ?? []).map((c) => c.text), ...(item.content == null ? item.summary.map((s) => s.text) : [])].join("");
        thought = (thought ?? "") + text;
        break;
      }
      case "item_reference":
        throw invalidRequest("Item references are not supported: send the item itself, or continue with previous_response_id.", `${paramOf(i)}.type`, "unsupported_value");
    }
  }
  return messages;
}

function parseItems(items: readonly unknown[]): ResponseInputItem[] {
  return items.map((item, i) => {
    const parsed = inputItemSchema.safeParse(item);
    if (parsed.success) return parsed.data;
    const first = parsed.error.issues[0];
    throw first === undefined ? invalidRequest(`Invalid 'input[${i}]'.`, `input[${i}]`) : issueToError({ ...first, path: ["input", i, ...first.path] });
  });
}

/** A chat-completions parameter → the Responses one the client sent. */
function responsesParam(param: string | null): string | null {
  if (param === null) return null;
  if (param.startsWith("messages")) return "input";
  if (param.startsWith("response_format.json_schema.schema")) return `text.format.schema${param.slice("response_format.json_schema.schema".length)}`;
  if (param.startsWith("response_format")) return "text.format";
  if (param === "max_completion_tokens") return "max_output_tokens";
  if (param === "reasoning_effort") return "reasoning.effort";
  const tool = /^tools\[(\d+)\]\.function(.*)$/.exec(param);
  if (tool !== null) return `tools[${tool[1]}]${tool[2]}`;
  return param;
}

/**
 * An error that names a chat-completions field (from the translated body's
 * parse, or from an engine checking it: `response_format.json_schema.schema`)
 * → the same error naming the Responses field the client sent.
 */
export function toResponsesError(err: ApiError): ApiError {
  if (err.param === null) return err;
  const param = responsesParam(err.param);
  if (param === err.param) return err;
  return new ApiError(err.status, err.type, err.message.replace(err.param, param ?? ""), { param, code: err.code, headers: err.headers });
}

function refuseUnsupported(body: ResponsesRequestBody): void {
  const tool = body.tools?.findIndex((t) => t.type !== "function") ?? -1;
  if (tool >= 0) {
    throw invalidRequest(`Tool type '${body.tools?.[tool]?.type ?? ""}' is not supported: only function tools are.`, `tools[${tool}].type`, "unsupported_value");
  }
  if (body.background === true) throw invalidRequest("Background responses are not supported.", "background", "unsupported_value");
  if (body.conversation !== undefined && body.conversation !== null) {
    throw invalidRequest("Conversations are not supported: continue with previous_response_id.", "conversation", "unsupported_value");
  }
  if (body.prompt !== undefined && body.prompt !== null) throw invalidRequest("Prompt templates are not supported.", "prompt", "unsupported_value");
}

/**
 * The body an upstream that serves the Responses API itself gets: the
 * client's own (unknown fields kept), with the conversation of
 * `previous_response_id` inlined as input items, because chatport owns the
 * store — the upstream gets `store: false` and no `previous_response_id`.
 * The inlined items lose chatport's ids (they name nothing upstream), and
 * reasoning items without `encrypted_content` are left out: a server that
 * stores nothing cannot take them back (the chat translation keeps their text).
 */
function passThroughBody(raw: Record<string, unknown>, history: readonly ResponseInputItem[]): Record<string, unknown> {
  const { previous_response_id: _previous, ...body } = raw;
  const earlier = history
    .filter((item) => item.type !== "reasoning" || (item.encrypted_content ?? null) !== null)
    .map((item) => {
      const { id: _id, ...rest } = item as ResponseInputItem & { id?: string };
      return rest;
    });
  const own = typeof raw.input === "string" ? [{ role: "user", content: raw.input }] : (raw.input as unknown[]);
  return { ...body, input: history.length === 0 ? raw.input : [...earlier, ...own], store: false };
}

/**
 * Parses an untrusted Responses body, with the items of the conversation it
 * continues (empty for a new one), or throws an ApiError (400) whose `param`
 * names the Responses field.
 */
export function parseResponsesRequest(raw: unknown, options: ParseOptions, history: readonly ResponseInputItem[] = []): ResponsesRequest {
  assertBodyObject(raw);
  const parsed = responsesRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw first === undefined ? invalidRequest("Invalid request body.") : issueToError(first);
  }
  const body = parsed.data;
  refuseUnsupported(body);
  const input = typeof body.input === "string" ? [{ type: "message" as const, role: "user" as const, content: body.input }] : parseItems(body.input);
  const messages = toChatMessages([...history, ...input], history.length);
  if (body.instructions != null && body.instructions !== "") messages.unshift({ role: "system", content: body.instructions });
  if (messages.length === 0) throw invalidRequest("input must contain at least one item.", "input", "invalid_value");

  const format = body.text?.format;
  const chatWire: Record<string, unknown> = {
    model: body.model,
    messages,
    stream: body.stream === true,
    ...(body.stream === true ? { stream_options: { include_usage: true } } : {}),
    ...(body.max_output_tokens != null ? { max_completion_tokens: body.max_output_tokens } : {}),
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { top_p: body.top_p } : {}),
    ...(body.top_logprobs != null ? { logprobs: true, top_logprobs: body.top_logprobs } : {}),
    ...(body.user !== undefined ? { user: body.user } : {}),
    ...(body.reasoning?.effort != null ? { reasoning_effort: body.reasoning.effort } : {}),
    ...(body.parallel_tool_calls != null ? { parallel_tool_calls: body.parallel_tool_calls } : {}),
  };
  const tools = (body.tools ?? []).flatMap((t) => (t.type === "function" ? [t as z.infer<typeof functionTool>] : []));
  if (tools.length > 0) {
    chatWire.tools = tools.map((t) => ({
      type: "function",
      function: { name: t.name, ...(t.description != null ? { description: t.description } : {}), ...(t.parameters != null ? { parameters: t.parameters } : {}), strict: t.strict ?? false },
    }));
  }
  if (body.tool_choice != null) {
    chatWire.tool_choice = typeof body.tool_choice === "string" ? body.tool_choice : { type: "function", function: { name: body.tool_choice.name } };
  }
  if (format !== undefined && format.type !== "text") {
    chatWire.response_format =
      format.type === "json_object"
        ? { type: "json_object" }
        : {
            type: "json_schema",
            json_schema: { name: format.name, schema: format.schema, strict: format.strict ?? false, ...(format.description !== undefined ? { description: format.description } : {}) },
          };
  }

  let chat: ChatRequest;
  try {
    chat = parseChatRequest(chatWire, options);
  } catch (err) {
    throw err instanceof ApiError ? toResponsesError(err) : err;
  }
  chat.native = { endpoint: "responses", body: passThroughBody(raw as Record<string, unknown>, history) };
  return { chat, body, input, store: body.store ?? true, previousResponseId: body.previous_response_id ?? null };
}
