/**
 * The wire schema of Anthropic's `POST /v1/messages` (and of
 * `/v1/messages/count_tokens`) and its translation into a chat-completions
 * body, which `parseChatRequest` turns into the internal {@link ChatRequest}:
 * the Messages API is one more surface on the same engines, and an upstream
 * model gets the translated body (`ChatRequest.wire`), so every
 * OpenAI-compatible upstream serves it — or, where its provider declares the
 * Messages API (`apis: ["messages"]`), the client's own body
 * (`ChatRequest.native`).
 *
 * Content blocks: `text`; `image` (base64 or URL, for models that take
 * media; a clear 400 on text-only local models); `tool_use` (assistant) →
 * a tool call; `tool_result` (user, `is_error` marked in its text) → a tool
 * message; `thinking` → the assistant turn's thought; `redacted_thinking`
 * (opaque) dropped. `cache_control` is accepted and ignored: local models
 * reuse prompt prefixes on their own.
 */
import { z } from "zod";
import { assertBodyObject, issueToError, maxMessages, parseChatRequest, type ChatRequest, type ParseOptions } from "./chat-request.js";
import { ApiError, invalidRequest } from "./errors.js";

const cacheControl = z.unknown().optional();

const textBlock = z.object({ type: z.literal("text"), text: z.string(), cache_control: cacheControl, citations: z.unknown().optional() });
const imageSource = z.discriminatedUnion("type", [
  z.object({ type: z.literal("base64"), media_type: z.string().min(1), data: z.string() }),
  z.object({ type: z.literal("url"), url: z.string().min(1) }),
  z.object({ type: z.literal("file"), file_id: z.string().min(1) }),
]);
const imageBlock = z.object({ type: z.literal("image"), source: imageSource, cache_control: cacheControl });
const toolUseBlock = z.object({
  type: z.literal("tool_use"),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
  cache_control: cacheControl,
});
const toolResultBlock = z.object({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1),
  content: z.union([z.string(), z.array(z.object({ type: z.string() }).passthrough())]).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
});
const thinkingBlock = z.object({ type: z.literal("thinking"), thinking: z.string(), signature: z.string().optional() });
const redactedThinkingBlock = z.object({ type: z.literal("redacted_thinking"), data: z.string() });
const contentBlock = z.discriminatedUnion("type", [textBlock, imageBlock, toolUseBlock, toolResultBlock, thinkingBlock, redactedThinkingBlock]);
type ContentBlock = z.infer<typeof contentBlock>;
const knownBlockTypes = new Set(["text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"]);

/** A block is first only an object with a type; each is parsed on its own (below), so an error names it: `messages[1].content[2].input`. */
const rawBlock = z.object({ type: z.string() }).passthrough();

const messageSchema = z.object({
  role: z.enum(["user", "assistant", "system"]),
  content: z.union([z.string(), z.array(rawBlock)]),
});

/** A client tool (`type` absent or `custom`); server tools (`web_search_…`, `bash_…`) are refused by name. */
const customTool = z.object({
  type: z.literal("custom").nullable().optional(),
  name: z.string().min(1),
  description: z.string().optional(),
  input_schema: z.record(z.string(), z.unknown()),
  strict: z.boolean().nullable().optional(),
  cache_control: cacheControl,
});

const parallelFlag = { disable_parallel_tool_use: z.boolean().optional() };
const toolChoiceSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), ...parallelFlag }),
  z.object({ type: z.literal("any"), ...parallelFlag }),
  z.object({ type: z.literal("tool"), name: z.string().min(1), ...parallelFlag }),
  z.object({ type: z.literal("none") }),
]);

const thinkingDisplay = z.enum(["summarized", "omitted"]).nullable().optional();
const thinkingSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("enabled"), budget_tokens: z.number().int().min(1), display: thinkingDisplay }),
  z.object({ type: z.literal("disabled") }),
  z.object({ type: z.literal("adaptive"), display: thinkingDisplay }),
  z.object({ type: z.literal("between_tools") }),
]);

const messagesShape = {
  model: z.string().min(1),
  max_tokens: z.number({ error: (issue) => (issue.input === undefined ? "Field required" : undefined) }).int().min(1),
  messages: z.array(messageSchema).min(1, "messages must contain at least one message").max(maxMessages, `at most ${maxMessages} messages`),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  tools: z.array(z.object({ type: z.string().nullable().optional() }).passthrough()).max(128, "at most 128 tools").optional(),
  tool_choice: toolChoiceSchema.optional(),
  stop_sequences: z.array(z.string().min(1)).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  thinking: thinkingSchema.optional(),
  output_config: z
    .object({
      effort: z.enum(["low", "medium", "high", "xhigh", "max"]).nullable().optional(),
      format: z.object({ type: z.literal("json_schema"), schema: z.record(z.string(), z.unknown()) }).nullable().optional(),
    })
    .optional(),
  metadata: z.object({ user_id: z.string().max(256).nullable().optional() }).passthrough().optional(),
  stream: z.boolean().optional(),
};

export const anthropicMessagesRequestSchema = z.object(messagesShape);
/** count_tokens takes the same body without `max_tokens` and `stream`. */
export const anthropicCountTokensRequestSchema = z.object({ ...messagesShape, max_tokens: messagesShape.max_tokens.optional() });

export type AnthropicMessagesBody = z.infer<typeof anthropicCountTokensRequestSchema>;

/** A Messages request: the internal request and the fields the response echoes. */
export interface AnthropicMessagesRequest {
  chat: ChatRequest;
  body: AnthropicMessagesBody;
  /** Maps an error naming a chat-completions field to the Messages field the client sent. */
  error(err: ApiError): ApiError;
}

type ChatWireMessage = Record<string, unknown> & { role: string };

/**
 * Thinking budgets → the effort an OpenAI-compatible upstream understands
 * (local models get the exact budget besides, `ChatRequest.thinkingBudget`).
 */
function effortOfBudget(budget: number): "low" | "medium" | "high" {
  if (budget < 4096) return "low";
  return budget < 16384 ? "medium" : "high";
}

function parseBlock(raw: unknown, param: string): ContentBlock {
  const type = (raw as { type: string }).type;
  if (!knownBlockTypes.has(type)) {
    throw invalidRequest(`Content block type '${type}' is not supported: text, image, tool_use, tool_result, thinking and redacted_thinking are.`, `${param}.type`, "unsupported_value");
  }
  const parsed = contentBlock.safeParse(raw);
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  if (first === undefined) throw invalidRequest(`Invalid '${param}'.`, param);
  const error = issueToError(first);
  const inner = error.param === null ? param : `${param}.${error.param}`;
  throw invalidRequest(`Invalid '${inner}': ${first.message}`, inner, "invalid_value");
}

/** An image block → a chat image part (data URL or URL), where the model takes media; a 400 naming the block otherwise. */
function imagePart(block: Extract<ContentBlock, { type: "image" }>, param: string, options: ParseOptions): Record<string, unknown> {
  if (options.media !== true) {
    throw invalidRequest(`This model takes text only: image content is not supported (${param}).`, param, "unsupported_content_type");
  }
  const { source } = block;
  if (source.type === "file") throw invalidRequest("Images by file_id are not supported: send the image as base64 or a URL.", `${param}.source`, "unsupported_value");
  const url = source.type === "base64" ? `data:${source.media_type};base64,${source.data}` : source.url;
  return { type: "image_url", image_url: { url } };
}

function textOfResult(block: Extract<ContentBlock, { type: "tool_result" }>, param: string): string {
  const content = block.content ?? "";
  const text =
    typeof content === "string"
      ? content
      : content
          .map((part, k) => {
            if (part.type === "text" && typeof part.text === "string") return part.text;
            throw invalidRequest(`Tool results may only hold text here, not '${part.type}'.`, `${param}.content[${k}].type`, "unsupported_content_type");
          })
          .join("\n");
  return block.is_error === true ? `Error: ${text}` : text;
}

interface Translation {
  messages: ChatWireMessage[];
  /** Per chat message: the Messages field it came from (`system`, `messages[3]`). */
  origins: string[];
}

function systemText(system: string | Array<z.infer<typeof textBlock>>): string {
  return typeof system === "string" ? system : system.map((b) => b.text).join("\n");
}

/** The Messages body's system prompt and messages → chat messages, each remembering where it came from. */
function toChatMessages(body: AnthropicMessagesBody, options: ParseOptions): Translation {
  const out: Translation = { messages: [], origins: [] };
  const push = (message: ChatWireMessage, origin: string): void => {
    out.messages.push(message);
    out.origins.push(origin);
  };
  if (body.system !== undefined && systemText(body.system) !== "") push({ role: "system", content: systemText(body.system) }, "system");

  for (const [i, message] of body.messages.entries()) {
    const origin = `messages[${i}]`;
    if (typeof message.content === "string") {
      push({ role: message.role, content: message.content }, origin);
      continue;
    }
    const blocks = message.content.map((raw, j) => parseBlock(raw, `${origin}.content[${j}]`));
    const misplaced = (j: number, what: string): never => {
      throw invalidRequest(`A '${what}' block is not allowed in a ${message.role} message.`, `${origin}.content[${j}].type`, "invalid_value");
    };
    if (message.role === "assistant") {
      let text = "";
      let thought: string | null = null;
      const calls: unknown[] = [];
      for (const [j, block] of blocks.entries()) {
        if (block.type === "text") text += block.text;
        else if (block.type === "thinking") thought = (thought ?? "") + block.thinking;
        else if (block.type === "tool_use") calls.push({ id: block.id, type: "function", function: { name: block.name, arguments: JSON.stringify(block.input) } });
        else if (block.type === "redacted_thinking") continue;
        else misplaced(j, block.type);
      }
      push(
        {
          role: "assistant",
          content: text === "" && calls.length > 0 ? null : text,
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
          ...(thought !== null ? { reasoning_content: thought } : {}),
        },
        origin,
      );
      continue;
    }
    // user and system: tool results become tool messages (first, as the model's turn they answer), the rest one message.
    const parts: Record<string, unknown>[] = [];
    for (const [j, block] of blocks.entries()) {
      const param = `${origin}.content[${j}]`;
      if (block.type === "text") parts.push({ type: "text", text: block.text });
      else if (block.type === "image" && message.role === "user") parts.push(imagePart(block, param, options));
      else if (block.type === "tool_result" && message.role === "user") push({ role: "tool", tool_call_id: block.tool_use_id, content: textOfResult(block, param) }, origin);
      else misplaced(j, block.type);
    }
    if (parts.length > 0 || blocks.length === 0) {
      const onlyText = parts.every((p) => p.type === "text");
      push({ role: message.role, content: onlyText ? parts.map((p) => p.text as string).join("") : parts }, origin);
    }
  }
  return out;
}

/** The chat field an engine or the chat parser names → the Messages field (`tools[0].function.parameters` → `tools[0].input_schema`). */
function messagesParam(param: string, origins: readonly string[]): string {
  const message = /^messages\[(\d+)\]/.exec(param);
  if (message !== null) return origins[Number(message[1])] ?? "messages";
  if (param === "messages") return "messages";
  if (param === "stop") return "stop_sequences";
  if (param === "max_completion_tokens" || param === "max_tokens") return "max_tokens";
  if (param === "user") return "metadata.user_id";
  if (param === "reasoning_effort") return "thinking";
  if (param === "parallel_tool_calls") return "tool_choice.disable_parallel_tool_use";
  if (param.startsWith("response_format.json_schema.schema")) return `output_config.format.schema${param.slice("response_format.json_schema.schema".length)}`;
  if (param.startsWith("response_format")) return "output_config.format";
  const tool = /^tools\[(\d+)\]\.function(.*)$/.exec(param);
  if (tool !== null) return `tools[${tool[1]}]${(tool[2] ?? "").replace(/^\.parameters/, ".input_schema")}`;
  return param;
}

function translateError(err: ApiError, origins: readonly string[]): ApiError {
  if (err.param === null) return err;
  const param = messagesParam(err.param, origins);
  if (param === err.param) return err;
  return new ApiError(err.status, err.type, err.message.replaceAll(err.param, param), { param, code: err.code, headers: err.headers });
}

/** Tools: client tools only, each a chat function tool (the same grammar compiler constrains their inputs). */
function chatTools(tools: NonNullable<AnthropicMessagesBody["tools"]>): unknown[] {
  return tools.map((raw, i) => {
    if (raw.type != null && raw.type !== "custom") {
      throw invalidRequest(`Tool type '${raw.type}' is not supported: only client tools (with input_schema) are.`, `tools[${i}].type`, "unsupported_value");
    }
    const parsed = customTool.safeParse(raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw first === undefined ? invalidRequest(`Invalid 'tools[${i}]'.`, `tools[${i}]`) : issueToError({ ...first, path: ["tools", i, ...first.path] });
    }
    const tool = parsed.data;
    return {
      type: "function",
      function: { name: tool.name, ...(tool.description !== undefined ? { description: tool.description } : {}), parameters: tool.input_schema, strict: tool.strict ?? false },
    };
  });
}

function chatToolChoice(choice: z.infer<typeof toolChoiceSchema>): unknown {
  switch (choice.type) {
    case "auto":
      return "auto";
    case "any":
      return "required";
    case "none":
      return "none";
    case "tool":
      return { type: "function", function: { name: choice.name } };
  }
}

/** The reasoning effort the body asks for: thinking off is `none`; on, the budget's effort (or output_config's). */
function reasoningEffort(body: AnthropicMessagesBody): string | null {
  const thinking = body.thinking;
  if (thinking?.type === "disabled") return "none";
  if (thinking?.type === "enabled") return body.output_config?.effort ?? effortOfBudget(thinking.budget_tokens);
  return body.output_config?.effort ?? null;
}

function validate<T>(schema: z.ZodType<T>, raw: unknown): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw first === undefined ? invalidRequest("Invalid request body.") : issueToError(first);
  }
  return parsed.data;
}

function translate(body: AnthropicMessagesBody, options: ParseOptions): AnthropicMessagesRequest {
  const { messages, origins } = toChatMessages(body, options);
  const error = (err: ApiError): ApiError => translateError(err, origins);
  if (messages.length === 0) throw invalidRequest("messages must contain at least one message.", "messages", "invalid_value");
  const tools = body.tools === undefined ? [] : chatTools(body.tools);
  const effort = reasoningEffort(body);
  const format = body.output_config?.format;
  const choice = body.tool_choice;
  const chatWire: Record<string, unknown> = {
    model: body.model,
    messages,
    stream: body.stream === true,
    ...(body.stream === true ? { stream_options: { include_usage: true } } : {}),
    ...(body.max_tokens !== undefined ? { max_completion_tokens: body.max_tokens } : {}),
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(body.top_p !== undefined ? { top_p: body.top_p } : {}),
    ...(body.top_k !== undefined ? { top_k: body.top_k } : {}),
    ...(body.stop_sequences !== undefined && body.stop_sequences.length > 0 ? { stop: body.stop_sequences } : {}),
    ...(body.metadata?.user_id != null ? { user: body.metadata.user_id } : {}),
    ...(effort !== null ? { reasoning_effort: effort } : {}),
    ...(format != null ? { response_format: { type: "json_schema", json_schema: { name: "output", schema: format.schema, strict: true } } } : {}),
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice !== undefined && (tools.length > 0 || choice.type !== "none") ? { tool_choice: chatToolChoice(choice) } : {}),
    ...(tools.length > 0 && choice !== undefined && choice.type !== "none" && choice.disable_parallel_tool_use === true ? { parallel_tool_calls: false } : {}),
  };
  // Anthropic lets a body carry more than OpenAI's four stop sequences; local models take any number.
  const stops = body.stop_sequences ?? [];
  const wireForParse = stops.length > 4 ? { ...chatWire, stop: stops.slice(0, 4) } : chatWire;
  let chat: ChatRequest;
  try {
    chat = parseChatRequest(wireForParse, options);
  } catch (err) {
    throw err instanceof ApiError ? error(err) : err;
  }
  chat = {
    ...chat,
    stop: stops,
    wire: chatWire,
    ...(body.thinking?.type === "enabled" ? { thinkingBudget: body.thinking.budget_tokens } : {}),
  };
  return { chat, body, error };
}

/** Parses an untrusted `POST /v1/messages` body, or throws an ApiError (400) naming the Messages field. */
export function parseAnthropicMessagesRequest(raw: unknown, options: ParseOptions): AnthropicMessagesRequest {
  assertBodyObject(raw);
  const request = translate(validate(anthropicMessagesRequestSchema, raw), options);
  // A provider that serves the Messages API itself gets the body as the client sent it (unknown fields kept).
  request.chat.native = { endpoint: "messages", body: raw as Record<string, unknown> };
  return request;
}

/** Parses an untrusted `POST /v1/messages/count_tokens` body (no `max_tokens`, never streamed). */
export function parseAnthropicCountTokensRequest(raw: unknown, options: ParseOptions): AnthropicMessagesRequest {
  assertBodyObject(raw);
  const body = validate(anthropicCountTokensRequestSchema, raw);
  const request = translate({ ...body, stream: false }, options);
  // A provider that serves the Messages API counts the body as the client sent it.
  request.chat.native = { endpoint: "messages", body: raw as Record<string, unknown> };
  return request;
}
