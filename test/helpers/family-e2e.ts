/**
 * The scaffold the family end-to-end files share: one server with a test
 * model per template (`make-test-model --template`), the tools they offer,
 * the check of a call, the reassembly of streamed calls, and the cases every
 * family passes — tool_choice required (streamed as non-streamed), a named
 * tool, a call and its result back through the template.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type OpenAI from "openai";
import { templateModelPath } from "./models.js";
import { startServer, type RunningServer } from "./server.js";

/** The ids chatport makes for families whose templates take any id. */
export const OPENAI_CALL_IDS = /^call_[0-9a-f]{32}$/;

export const FAMILY_ASK: OpenAI.ChatCompletionMessageParam[] = [
  { role: "system", content: "You answer with tools." },
  { role: "user", content: "Weather in Paris for 3 days?" },
];

/**
 * get_weather(city: Paris | Lyon, days: 1–3) and get_time(zone: UTC | CET),
 * strict; every parameter has a type and a description (Hermes 3's template
 * reads both).
 */
export const FAMILY_TOOLS: OpenAI.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather in a city",
      parameters: {
        type: "object",
        properties: { city: { type: "string", enum: ["Paris", "Lyon"], description: "City" }, days: { type: "integer", enum: [1, 2, 3], description: "Days" } },
        required: ["city", "days"],
        additionalProperties: false,
      },
      strict: true,
    },
  },
  {
    type: "function",
    function: {
      name: "get_time",
      description: "Time in a zone",
      parameters: { type: "object", properties: { zone: { type: "string", enum: ["UTC", "CET"], description: "Zone" } }, required: ["zone"], additionalProperties: false },
      strict: true,
    },
  },
];

export interface CheckedCall {
  name: string;
  args: Record<string, unknown>;
}

/** A call of one of {@link FAMILY_TOOLS} with valid arguments, under an id the family's templates take back. */
export function checkFamilyCall(call: OpenAI.ChatCompletionMessageToolCall, idPattern: RegExp): CheckedCall {
  assert.equal(call.type, "function");
  assert.match(call.id, idPattern);
  if (call.type !== "function") throw new Error("unreachable");
  const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
  if (call.function.name === "get_weather") {
    assert.ok(args.city === "Paris" || args.city === "Lyon", call.function.arguments);
    assert.ok(args.days === 1 || args.days === 2 || args.days === 3, call.function.arguments);
  } else {
    assert.equal(call.function.name, "get_time");
    assert.ok(args.zone === "UTC" || args.zone === "CET", call.function.arguments);
  }
  return { name: call.function.name, args };
}

export interface FamilyServer {
  readonly server: RunningServer;
  readonly client: OpenAI;
  /** The test model file served under this id. */
  modelPath(id: string): string;
}

/**
 * Registers the file's `before` and `after`: one server with a test model per
 * template that is present (and any `extra` models), started with `args`.
 */
export function familyServer(
  models: ReadonlyArray<{ id: string; template: string | null }>,
  args: readonly string[],
  extra: () => Promise<Record<string, string>> = async () => ({}),
): FamilyServer {
  let server: RunningServer | undefined;
  const paths = new Map<string, string>();
  before(async () => {
    const files: Record<string, string> = {};
    for (const m of models) {
      if (m.template === null) continue;
      files[m.id] = await templateModelPath(m.template);
    }
    Object.assign(files, await extra());
    for (const [id, file] of Object.entries(files)) paths.set(id, file);
    // No template at hand (../shared absent): every test of the file is skipped, and a server with no models would fetch the default one.
    if (paths.size === 0) return;
    server = await startServer({ models: files, args: [...args] });
  });
  after(async () => server?.stop());
  const running = (): RunningServer => {
    if (server === undefined) throw new Error("the family server has not started");
    return server;
  };
  return {
    get server() {
      return running();
    },
    get client() {
      return running().client;
    },
    modelPath(id: string): string {
      const file = paths.get(id);
      if (file === undefined) throw new Error(`no test model ${id}`);
      return file;
    },
  };
}

export type ToolCallDelta = OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall;
export type StreamDelta = { content?: string | null; reasoning_content?: string; tool_calls?: ToolCallDelta[] };

/** A stream's tool calls reassembled from their deltas, and its finish reason; `onDelta` sees every delta. */
export async function streamedToolCalls(
  stream: AsyncIterable<OpenAI.ChatCompletionChunk>,
  onDelta: (delta: StreamDelta) => void = () => {},
): Promise<{ finish: string | null; calls: Array<{ id: string; name: string; args: string }> }> {
  const calls: Array<{ id: string; name: string; args: string }> = [];
  let finish: string | null = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c === undefined) continue;
    finish = c.finish_reason ?? finish;
    const delta = c.delta as StreamDelta;
    onDelta(delta);
    for (const d of delta.tool_calls ?? []) {
      if (d.id !== undefined) calls[d.index] = { id: d.id, name: d.function?.name ?? "", args: d.function?.arguments ?? "" };
      else if (calls[d.index] !== undefined) calls[d.index]!.args += d.function?.arguments ?? "";
    }
  }
  return { finish, calls };
}

export interface FamilyCases {
  family: FamilyServer;
  model: string;
  check: (call: OpenAI.ChatCompletionMessageToolCall) => CheckedCall;
  /** The ids streamed calls must have (absent: not checked beyond `check`). */
  idPattern?: RegExp;
  tools?: OpenAI.ChatCompletionTool[];
  ask?: OpenAI.ChatCompletionMessageParam[];
  /** max_tokens of a call under tool_choice required, and of a named call. */
  maxTokens: number;
  namedMaxTokens: number;
  /** Every delta of the streamed required call (e.g. no control strings in content). */
  onDelta?: (delta: StreamDelta) => void;
  /** A named call also finishes with `tool_calls`. */
  namedFinishes?: boolean;
}

/** tool_choice required: one valid call, no content, finish `tool_calls`, and the streamed call reassembles to it. */
export function requiredCallTest(o: FamilyCases, title = "tool_choice required gives a valid call in the family's syntax, streamed as it is non-streamed"): void {
  test(title, async () => {
    const body = { model: o.model, messages: o.ask ?? FAMILY_ASK, tools: o.tools ?? FAMILY_TOOLS, tool_choice: "required" as const, parallel_tool_calls: false, seed: 7, max_tokens: o.maxTokens };
    const whole = await o.family.client.chat.completions.create(body);
    const choice = whole.choices[0];
    assert.equal(choice?.finish_reason, "tool_calls");
    const calls = choice.message.tool_calls ?? [];
    assert.equal(calls.length, 1);
    const parsed = calls.map(o.check);
    assert.ok(choice.message.content === null || choice.message.content === "", `no content: ${choice.message.content}`);

    const streamed = await streamedToolCalls(await o.family.client.chat.completions.create({ ...body, stream: true }), o.onDelta);
    assert.equal(streamed.finish, "tool_calls");
    assert.deepEqual(
      streamed.calls.map((c) => ({ name: c.name, args: JSON.parse(c.args) as unknown })),
      parsed,
      "the streamed call reassembles to the non-streamed one",
    );
    if (o.idPattern !== undefined) for (const c of streamed.calls) assert.match(c.id, o.idPattern);
  });
}

/** A named tool is the one called. */
export function namedCallTest(o: FamilyCases, title = "a named tool is the one called"): void {
  test(title, async () => {
    const res = await o.family.client.chat.completions.create({
      model: o.model,
      messages: o.ask ?? FAMILY_ASK,
      tools: o.tools ?? FAMILY_TOOLS,
      tool_choice: { type: "function", function: { name: "get_time" } },
      seed: 3,
      max_tokens: o.namedMaxTokens,
    });
    if (o.namedFinishes === true) assert.equal(res.choices[0]?.finish_reason, "tool_calls");
    assert.deepEqual((res.choices[0]?.message.tool_calls ?? []).map((c) => o.check(c).name), ["get_time"]);
  });
}

export interface CallAndResultOptions {
  /** The assistant turn sent back (default: the call, content null). */
  assistant?: (message: OpenAI.ChatCompletionMessage) => OpenAI.ChatCompletionAssistantMessageParam;
  /** Seed of the answer after the result (absent: unseeded). */
  seed?: number;
  /** More checks of the answer after the result. */
  answer?: (res: OpenAI.ChatCompletion) => void;
}

/** A required call, then the call and its result sent back: the prompt grew, and the model answers. */
export function callAndResultTest(o: FamilyCases, options: CallAndResultOptions = {}, title = "the call and its result go back through the template"): void {
  test(title, async () => {
    const ask = o.ask ?? FAMILY_ASK;
    const tools = o.tools ?? FAMILY_TOOLS;
    const first = await o.family.client.chat.completions.create({ model: o.model, messages: ask, tools, tool_choice: "required", parallel_tool_calls: false, seed: 5, max_tokens: o.maxTokens });
    const message = first.choices[0]?.message;
    assert.ok(message?.tool_calls !== undefined && message.tool_calls.length === 1);
    const call = message.tool_calls[0]!;
    const assistant = options.assistant?.(message) ?? { role: "assistant", content: null, tool_calls: message.tool_calls };
    const next = await o.family.client.chat.completions.create({
      model: o.model,
      messages: [...ask, assistant, { role: "tool", tool_call_id: call.id, content: '{"temp_c": 21}' }],
      tools,
      max_tokens: 8,
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    });
    assert.ok(next.usage !== undefined && next.usage.prompt_tokens > first.usage!.prompt_tokens, "the prompt grew by the call and its result");
    assert.ok(["stop", "length", "tool_calls"].includes(next.choices[0]?.finish_reason ?? ""));
    options.answer?.(next);
  });
}

/** The same request streamed: its reasoning and content deltas join to the non-streamed message's. */
export async function assertStreamedAsWhole(client: OpenAI, body: OpenAI.ChatCompletionCreateParamsNonStreaming, message: OpenAI.ChatCompletionMessage & { reasoning_content?: string }): Promise<void> {
  let reasoning = "";
  let content = "";
  for await (const chunk of await client.chat.completions.create({ ...body, stream: true })) {
    const delta = chunk.choices[0]?.delta as { content?: string | null; reasoning_content?: string } | undefined;
    reasoning += delta?.reasoning_content ?? "";
    content += delta?.content ?? "";
  }
  assert.equal(reasoning, message.reasoning_content);
  assert.equal(content, message.content ?? "");
}
