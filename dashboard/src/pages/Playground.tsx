/**
 * A chat against POST /v1/chat/completions with the admin key: streamed
 * output as it arrives, usage and timings (TTFT, tokens/s, chatport's
 * `usage_timings`), JSON mode, and tool definitions with the calls the model
 * makes shown in the transcript (their results can be typed in).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorBox } from "../components/ui.js";
import { formatInt, formatMs, formatRate } from "../format.js";
import { errorText, useApi, useLoad } from "../hooks.js";
import { streamChat, type StreamProgress, type StreamResult, type ToolCall, type WireUsage } from "../sse.js";

interface Message {
  role: "user" | "assistant" | "tool";
  content: string;
  reasoning?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  finish?: string | null;
}

interface Settings {
  model: string;
  system: string;
  temperature: number;
  top_p: number;
  max_tokens: string;
  seed: string;
  json: boolean;
  tools: string;
  tool_choice: "auto" | "none" | "required";
  extra: string;
}

interface RunStats {
  usage: WireUsage | null;
  ttftMs: number | null;
  totalMs: number;
  chunks: number;
  finish: string | null;
  model: string | null;
}

const SETTINGS_KEY = "chatport.playground";

const defaults: Settings = {
  model: "",
  system: "You are a helpful assistant.",
  temperature: 0.7,
  top_p: 1,
  max_tokens: "256",
  seed: "",
  json: false,
  tools: "",
  tool_choice: "auto",
  extra: "",
};

const exampleTools = JSON.stringify(
  [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "Current weather for a city",
        parameters: {
          type: "object",
          properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
          required: ["city"],
        },
      },
    },
  ],
  null,
  2,
);

function loadSettings(): Settings {
  try {
    const raw = sessionStorage.getItem(SETTINGS_KEY);
    if (raw === null) return defaults;
    const parsed = JSON.parse(raw) as Partial<Settings>;
    return { ...defaults, ...parsed };
  } catch {
    return defaults;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The tools editor's text as tool definitions, or why not. Empty = no tools. */
export function parseTools(text: string): { tools: unknown[] | null; error: string | null } {
  if (text.trim() === "") return { tools: null, error: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { tools: null, error: `Tools: not valid JSON (${errorText(err)})` };
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  for (const [i, tool] of list.entries()) {
    if (!isRecord(tool) || tool.type !== "function" || !isRecord(tool.function) || typeof tool.function.name !== "string") {
      return { tools: null, error: `Tools: item ${i} must be {"type":"function","function":{"name":…, "parameters":{…}}}` };
    }
  }
  return { tools: list, error: null };
}

function parseExtra(text: string): { extra: Record<string, unknown>; error: string | null } {
  if (text.trim() === "") return { extra: {}, error: null };
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isRecord(parsed)) return { extra: {}, error: "Extra parameters: a JSON object, e.g. {\"top_k\": 40}" };
    return { extra: parsed, error: null };
  } catch (err) {
    return { extra: {}, error: `Extra parameters: not valid JSON (${errorText(err)})` };
  }
}

function toWire(message: Message): Record<string, unknown> {
  if (message.role === "tool") return { role: "tool", tool_call_id: message.tool_call_id, content: message.content };
  if (message.role === "assistant" && message.tool_calls !== undefined && message.tool_calls.length > 0) {
    return { role: "assistant", content: message.content === "" ? null : message.content, tool_calls: message.tool_calls };
  }
  return { role: message.role, content: message.content };
}

function decodeMs(usage: WireUsage | null): number | null {
  if (usage?.decode_time_arr === undefined || usage.decode_time_arr.length === 0) return null;
  return usage.decode_time_arr.reduce((a, b) => a + b, 0);
}

export function Playground() {
  const api = useApi();
  const models = useLoad(async () => (await api.openaiModels()).map((m) => m.id), []);
  const [settings, setSettings] = useState<Settings>(loadSettings);
  const [messages, setMessages] = useState<Message[]>([]);
  const [input, setInput] = useState("");
  const [partial, setPartial] = useState<StreamProgress | null>(null);
  const [streaming, setStreaming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [stats, setStats] = useState<RunStats | null>(null);
  const [toolResults, setToolResults] = useState<Record<string, string>>({});
  const abort = useRef<AbortController | null>(null);
  const transcriptEnd = useRef<HTMLDivElement>(null);

  const set = <K extends keyof Settings>(field: K, value: Settings[K]): void => setSettings((s) => ({ ...s, [field]: value }));

  useEffect(() => {
    try {
      sessionStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
    } catch {
      // not kept, fine
    }
  }, [settings]);

  // The first model by default, or when the remembered one is gone.
  useEffect(() => {
    const ids = models.data;
    if (ids === null || ids.length === 0) return;
    if (!ids.includes(settings.model)) set("model", ids[0] ?? "");
  }, [models.data]);

  useEffect(() => {
    transcriptEnd.current?.scrollIntoView({ block: "end" });
  }, [messages, partial]);

  useEffect(() => () => abort.current?.abort(), []);

  const tools = parseTools(settings.tools);
  const extra = parseExtra(settings.extra);

  // Tool calls of the last assistant turn that have no result yet.
  const last = messages[messages.length - 1];
  const pendingCalls = last?.role === "assistant" ? (last.tool_calls ?? []) : [];

  const send = async (): Promise<void> => {
    if (streaming) return;
    const text = input.trim();
    const results: Message[] = pendingCalls
      .filter((call) => (toolResults[call.id] ?? "").trim() !== "")
      .map((call) => ({ role: "tool", tool_call_id: call.id, content: toolResults[call.id] ?? "" }));
    if (text === "" && results.length === 0) return;
    if (settings.model === "") {
      setError("Choose a model.");
      return;
    }
    if (tools.error !== null || extra.error !== null) {
      setError(tools.error ?? extra.error);
      return;
    }
    const history: Message[] = [...messages, ...results, ...(text === "" ? [] : [{ role: "user" as const, content: text }])];
    setMessages(history);
    setInput("");
    setToolResults({});
    setError(null);
    setStats(null);
    setPartial({ content: "", reasoning: "", toolCalls: [] });
    setStreaming(true);

    const body: Record<string, unknown> = {
      model: settings.model,
      messages: [...(settings.system.trim() === "" ? [] : [{ role: "system", content: settings.system }]), ...history.map(toWire)],
      stream: true,
      stream_options: { include_usage: true },
      usage_timings: true,
      temperature: settings.temperature,
      top_p: settings.top_p,
    };
    if (settings.max_tokens.trim() !== "") body.max_tokens = Number(settings.max_tokens);
    if (settings.seed.trim() !== "") body.seed = Number(settings.seed);
    if (settings.json) body.response_format = { type: "json_object" };
    if (tools.tools !== null) {
      body.tools = tools.tools;
      body.tool_choice = settings.tool_choice;
    }
    Object.assign(body, extra.extra);

    const controller = new AbortController();
    abort.current = controller;
    let result: StreamResult | null = null;
    let progress: StreamProgress = { content: "", reasoning: "", toolCalls: [] };
    try {
      result = await streamChat({
        url: "/v1/chat/completions",
        headers: { authorization: `Bearer ${api.key}` },
        body,
        signal: controller.signal,
        onProgress: (p) => {
          progress = p;
          setPartial(p);
        },
      });
      progress = result;
      setStats({ usage: result.usage, ttftMs: result.ttftMs, totalMs: result.totalMs, chunks: result.chunks, finish: result.finishReason, model: result.model });
    } catch (err) {
      if (controller.signal.aborted) setError("Stopped.");
      else setError(errorText(err));
    } finally {
      abort.current = null;
      const answer: Message = {
        role: "assistant",
        content: progress.content,
        reasoning: progress.reasoning === "" ? undefined : progress.reasoning,
        tool_calls: progress.toolCalls.length === 0 ? undefined : progress.toolCalls,
        finish: result?.finishReason ?? (controller.signal.aborted ? "stopped" : "error"),
      };
      if (answer.content !== "" || answer.tool_calls !== undefined || answer.reasoning !== undefined) setMessages((m) => [...m, answer]);
      setPartial(null);
      setStreaming(false);
    }
  };

  const clear = (): void => {
    abort.current?.abort();
    setMessages([]);
    setStats(null);
    setError(null);
    setToolResults({});
  };

  const usage = stats?.usage ?? null;
  const decode = decodeMs(usage);
  const serverTps = usage !== null && decode !== null && decode > 0 ? (usage.completion_tokens / decode) * 1000 : null;
  const clientTps =
    usage !== null && stats !== null && stats.ttftMs !== null && stats.totalMs > stats.ttftMs && usage.completion_tokens > 1
      ? ((usage.completion_tokens - 1) / (stats.totalMs - stats.ttftMs)) * 1000
      : null;

  return (
    <div class="playground">
      <aside class="card pg-settings" data-testid="pg-settings">
        <h2>Settings</h2>
        <label class="field">
          <span>Model</span>
          <select value={settings.model} onChange={(e) => set("model", e.currentTarget.value)} data-testid="pg-model">
            {(models.data ?? []).map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        {models.error !== null && <ErrorBox message={models.error} />}
        <label class="field">
          <span>System prompt</span>
          <textarea rows={3} value={settings.system} onInput={(e) => set("system", e.currentTarget.value)} data-testid="pg-system" />
        </label>
        <Slider label="Temperature" min={0} max={2} step={0.05} value={settings.temperature} onChange={(v) => set("temperature", v)} testid="pg-temperature" />
        <Slider label="Top p" min={0} max={1} step={0.01} value={settings.top_p} onChange={(v) => set("top_p", v)} testid="pg-top-p" />
        <div class="row tight">
          <label class="field">
            <span>Max tokens</span>
            <input inputMode="numeric" value={settings.max_tokens} onInput={(e) => set("max_tokens", e.currentTarget.value)} data-testid="pg-max-tokens" />
          </label>
          <label class="field">
            <span>Seed</span>
            <input inputMode="numeric" value={settings.seed} placeholder="random" onInput={(e) => set("seed", e.currentTarget.value)} data-testid="pg-seed" />
          </label>
        </div>
        <label class="check">
          <input type="checkbox" checked={settings.json} onChange={(e) => set("json", e.currentTarget.checked)} data-testid="pg-json" /> JSON mode
          <span class="muted small">response_format json_object</span>
        </label>
        <details open={settings.tools !== ""}>
          <summary>Tools</summary>
          <textarea
            class={`code ${tools.error === null ? "" : "invalid"}`}
            rows={8}
            spellcheck={false}
            value={settings.tools}
            placeholder='[{"type": "function", "function": {"name": …, "parameters": {…}}}]'
            onInput={(e) => set("tools", e.currentTarget.value)}
            data-testid="pg-tools"
          />
          {tools.error !== null && <p class="error small">{tools.error}</p>}
          <div class="row tight">
            <select value={settings.tool_choice} onChange={(e) => set("tool_choice", e.currentTarget.value as Settings["tool_choice"])} data-testid="pg-tool-choice">
              <option value="auto">tool_choice: auto</option>
              <option value="required">tool_choice: required</option>
              <option value="none">tool_choice: none</option>
            </select>
            <button type="button" class="button small" onClick={() => set("tools", exampleTools)}>
              Example
            </button>
          </div>
        </details>
        <details open={settings.extra !== ""}>
          <summary>Extra parameters</summary>
          <textarea
            class={`code ${extra.error === null ? "" : "invalid"}`}
            rows={3}
            spellcheck={false}
            value={settings.extra}
            placeholder='{"top_k": 40, "stop": ["\n\n"]}'
            onInput={(e) => set("extra", e.currentTarget.value)}
            data-testid="pg-extra"
          />
          {extra.error !== null && <p class="error small">{extra.error}</p>}
        </details>
      </aside>

      <section class="card pg-chat">
        <div class="transcript" data-testid="pg-transcript" data-streaming={streaming ? "true" : "false"}>
          {messages.length === 0 && partial === null && <p class="muted center">Send a message to start. Output streams in as the model writes it.</p>}
          {messages.map((m, i) => (
            <Bubble key={i} message={m} json={settings.json} />
          ))}
          {partial !== null && (
            <Bubble message={{ role: "assistant", content: partial.content, reasoning: partial.reasoning, tool_calls: partial.toolCalls }} streaming json={false} />
          )}
          <div ref={transcriptEnd} />
        </div>

        {pendingCalls.length > 0 && !streaming && (
          <div class="tool-results" data-testid="pg-tool-results">
            {pendingCalls.map((call) => (
              <label class="field" key={call.id}>
                <span>
                  Result of <code>{call.function.name}</code> ({call.id})
                </span>
                <input
                  value={toolResults[call.id] ?? ""}
                  placeholder='{"temperature": 21}'
                  onInput={(e) => {
                    const value = e.currentTarget.value;
                    setToolResults((r) => ({ ...r, [call.id]: value }));
                  }}
                />
              </label>
            ))}
          </div>
        )}

        {error !== null && <ErrorBox message={error} testid="pg-error" />}

        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          <textarea
            rows={3}
            value={input}
            placeholder="Message (Enter sends, Shift+Enter for a new line)"
            onInput={(e) => setInput(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey) {
                e.preventDefault();
                void send();
              }
            }}
            data-testid="pg-input"
          />
          <div class="composer-buttons">
            {streaming ? (
              <button type="button" class="button danger" onClick={() => abort.current?.abort()} data-testid="pg-stop">
                Stop
              </button>
            ) : (
              <button type="submit" class="button primary" data-testid="pg-send">
                Send
              </button>
            )}
            <button type="button" class="button ghost" onClick={clear} data-testid="pg-clear">
              Clear
            </button>
          </div>
        </form>

        <div class="pg-stats" data-testid="pg-usage" data-ready={stats !== null ? "true" : "false"}>
          <Stat label="Prompt" value={usage === null ? "–" : formatInt(usage.prompt_tokens)} testid="pg-prompt-tokens" />
          <Stat label="Completion" value={usage === null ? "–" : formatInt(usage.completion_tokens)} testid="pg-completion-tokens" />
          <Stat label="Cached" value={usage === null ? "–" : formatInt(usage.prompt_tokens_details?.cached_tokens ?? 0)} />
          <Stat label="TTFT" value={formatMs(stats?.ttftMs)} testid="pg-ttft" />
          <Stat label="Prefill (server)" value={formatMs(usage?.prefill_time)} />
          <Stat label="Decode (server)" value={formatRate(serverTps, "tok/s")} testid="pg-tps" />
          <Stat label="Stream (client)" value={formatRate(clientTps, "tok/s")} />
          <Stat label="Total" value={formatMs(stats?.totalMs)} />
          <Stat label="Finish" value={stats?.finish ?? "–"} testid="pg-finish" />
        </div>
      </section>
    </div>
  );
}

function Stat(props: { label: string; value: string; testid?: string }) {
  return (
    <div class="mini-stat" data-testid={props.testid}>
      <span class="mini-label">{props.label}</span>
      <span class="mini-value">{props.value}</span>
    </div>
  );
}

function Slider(props: { label: string; min: number; max: number; step: number; value: number; onChange: (v: number) => void; testid: string }) {
  return (
    <label class="field">
      <span class="row spread">
        {props.label}
        <input
          class="slider-number"
          type="number"
          min={props.min}
          max={props.max}
          step={props.step}
          value={props.value}
          onInput={(e) => {
            const v = Number(e.currentTarget.value);
            if (Number.isFinite(v)) props.onChange(Math.min(props.max, Math.max(props.min, v)));
          }}
          data-testid={props.testid}
        />
      </span>
      <input type="range" min={props.min} max={props.max} step={props.step} value={props.value} onInput={(e) => props.onChange(Number(e.currentTarget.value))} />
    </label>
  );
}

function prettyJson(text: string): string | null {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return null;
  }
}

function Bubble(props: { message: Message; streaming?: boolean; json: boolean }) {
  const m = props.message;
  const pretty = props.json && m.role === "assistant" && props.streaming !== true ? prettyJson(m.content) : null;
  const label = m.role === "tool" ? `tool result · ${m.tool_call_id ?? ""}` : m.role;
  return (
    <div
      class={`bubble ${m.role} ${props.streaming === true ? "streaming" : ""}`}
      data-testid={props.streaming === true ? "pg-streaming" : `pg-message-${m.role}`}
    >
      <div class="bubble-role">
        {label}
        {m.finish !== undefined && m.finish !== null && m.finish !== "stop" && <span class="muted"> · {m.finish}</span>}
        {pretty !== null && <span class="badge ok">valid JSON</span>}
      </div>
      {m.reasoning !== undefined && m.reasoning !== "" && (
        <details class="reasoning" open={props.streaming === true}>
          <summary>reasoning</summary>
          <div class="bubble-text">{m.reasoning}</div>
        </details>
      )}
      {(m.content !== "" || props.streaming === true) && (
        <div class={`bubble-text ${pretty !== null ? "code" : ""}`} data-testid="pg-message-text">
          {pretty ?? m.content}
          {props.streaming === true && <span class="cursor" aria-hidden="true" />}
        </div>
      )}
      {m.tool_calls?.map((call, i) => (
        <div class="tool-call" key={`${call.id}-${i}`} data-testid="pg-tool-call">
          <div class="tool-call-head">
            tool call <code>{call.function.name}</code> <span class="muted small">{call.id}</span>
          </div>
          <pre class="code">{prettyJson(call.function.arguments) ?? call.function.arguments}</pre>
        </div>
      ))}
    </div>
  );
}
