/**
 * Renders a chat — messages, tool definitions, tool calls and results, the
 * thinking switch — into prompt tokens through the model's own chat template
 * (the GGUF's `tokenizer.chat_template`, run with @huggingface/jinja as
 * llama-server's --jinja does). Models without a template fall back to
 * node-llama-cpp's matching chat wrapper, with tools described in a system
 * message. The model's family (`families/`) is detected here once: it says
 * how the model writes tool calls and marks its reasoning. The token count of
 * this rendering is `usage.prompt_tokens`.
 */
import { createHash } from "node:crypto";
import { Template } from "@huggingface/jinja";
import { LlamaText, resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type Token } from "node-llama-cpp";
import type { ChatMessage, ReasoningEffort, ToolDefinition } from "../../protocol/chat-request.js";
import { ApiError, invalidRequest } from "../../protocol/errors.js";
import { fallbackTurns, withToolPrompt } from "./families/fallback.js";
import type { ModelFamily, ReasoningFormat } from "./families/model-family.js";
import { detectFamily, reasoningOf } from "./families/registry.js";
import { toolTurnsAsText } from "./families/tool-free-history.js";

export interface RenderRequest {
  messages: readonly ChatMessage[];
  /** Null: the prompt mentions no tools. */
  tools: readonly ToolDefinition[] | null;
  /** Null: the template's default. */
  thinking: boolean | null;
  reasoningEffort: ReasoningEffort | null;
  /** Extra template variables from the request (`chat_template_kwargs`); the request's own fields win. */
  templateKwargs: Readonly<Record<string, unknown>>;
}

export interface RenderedPrompt {
  tokens: Token[];
  /** Plain-text stop triggers of the template (special-token triggers end generation as EOG anyway). */
  stopTexts: string[];
  /** The generation prompt opened a thought the model is expected to close. */
  startsInReasoning: boolean;
}

export interface PromptRenderer {
  readonly name: string;
  /** The model's family: how it writes tool calls. */
  readonly family: ModelFamily;
  /** How this model marks a thought; null when it does not reason. */
  readonly reasoning: ReasoningFormat | null;
  render(request: RenderRequest): RenderedPrompt;
}

/** The triggers made only of plain text (special-token triggers end generation as EOG anyway). */
export function plainTexts(triggers: ReadonlyArray<LlamaText | string | ReadonlyArray<string | Token>>): string[] {
  const out: string[] = [];
  for (const trigger of triggers) {
    const values: ReadonlyArray<unknown> = typeof trigger === "string" ? [trigger] : trigger instanceof LlamaText ? trigger.values : trigger;
    if (values.length > 0 && values.every((v) => typeof v === "string")) out.push(values.join(""));
  }
  return out;
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * A call id in the form a family's template accepts (Mistral: nine
 * alphanumerics, or it raises an error). Ids chatport made for the model
 * already fit; others — `toolu_…` from Anthropic clients, `call_…` from
 * OpenAI's — become nine hex digits of their SHA-256, the same for a call and
 * its result, so the model still sees which result answers which call.
 */
export function templateCallId(id: string, length: number): string {
  if (id.length === length && /^[A-Za-z0-9]+$/.test(id)) return id;
  return createHash("sha256").update(id).digest("hex").slice(0, length);
}

/** OpenAI-shaped message dicts, the way HF chat templates expect them (arguments as objects). */
function templateMessages(
  messages: readonly ChatMessage[],
  options: { toolCalls?: ModelFamily["templateToolCalls"]; reasoningField?: string; reasoningBlock?: boolean; callIdLength?: number | null } = {},
): Array<Record<string, unknown>> {
  const wire = (options.toolCalls ?? "objects") === "openai-wire";
  const length = options.callIdLength ?? null;
  const idOf = (id: string): string => (length === null ? id : templateCallId(id, length));
  const reasoningField = options.reasoningField ?? "reasoning_content";
  return messages.map((m) => {
    if (m.role === "assistant") {
      const out: Record<string, unknown> = { role: "assistant", content: wire && m.content === "" && m.toolCalls.length > 0 ? null : m.content };
      if (m.reasoning !== null && options.reasoningBlock === true) out.content = [{ type: "thinking", thinking: m.reasoning }, ...(m.content === "" ? [] : [{ type: "text", text: m.content }])];
      else if (m.reasoning !== null) {
        // Also under the family's own field, where its template reads it (gpt-oss, LFM2.5-8B: `thinking`).
        out.reasoning_content = m.reasoning;
        out[reasoningField] = m.reasoning;
      }
      if (m.toolCalls.length > 0) {
        out.tool_calls = m.toolCalls.map((c) => ({
          id: idOf(c.id),
          type: "function",
          function: { name: c.name, arguments: wire ? c.arguments : parseArguments(c.arguments) },
        }));
      }
      return out;
    }
    if (m.role === "tool") return { role: "tool", content: m.content, tool_call_id: idOf(m.toolCallId), ...(m.name === null ? {} : { name: m.name }) };
    return { role: m.role, content: m.content };
  });
}

class JinjaPromptRenderer implements PromptRenderer {
  readonly name = "jinja";
  readonly family: ModelFamily;
  readonly reasoning: ReasoningFormat | null;
  private readonly template: Template;
  private readonly templateKnowsTools: boolean;
  private readonly templateWritesCalls: boolean;
  private readonly model: LlamaModel;

  constructor(model: LlamaModel, source: string) {
    this.model = model;
    this.template = new Template(source);
    this.family = detectFamily({ template: source, architecture: architectureOf(model), hasToken: (text) => isSingleToken(model, text) });
    this.templateKnowsTools = /\btools\b/.test(source) || (this.family.toolDefinitions === "functions-json" && /\bfunctions\b/.test(source));
    // Jinja comments do not count: a template that only mentions `tool_calls` there never writes them.
    this.templateWritesCalls = source.replace(/\{#[\s\S]*?#\}/g, "").includes("tool_calls");
    this.reasoning = reasoningOf(this.family, source);
  }

  render(request: RenderRequest): RenderedPrompt {
    const tools = request.tools !== null && request.tools.length > 0 ? request.tools : null;
    const described = tools !== null && !this.templateKnowsTools ? withToolPrompt(request.messages, tools, this.family.toolInstructions) : request.messages;
    const messages = this.family.toolHistory === "as-text" && !this.templateKnowsTools ? toolTurnsAsText(described, { systemRole: this.family.systemRole ?? true }) : described;
    const writeCalls = this.family.callsInContent;
    const written =
      writeCalls === undefined || this.templateWritesCalls
        ? messages
        : messages.map((m) => (m.role === "assistant" && m.toolCalls.length > 0 ? { ...m, content: writeCalls(m.content, m.toolCalls) } : m));
    const dicts = templateMessages(written, {
      toolCalls: this.family.templateToolCalls,
      reasoningField: this.family.historyReasoningField,
      reasoningBlock: this.family.historyReasoningBlock,
      callIdLength: this.family.callIdLength,
    });
    const switchText = this.reasoning?.switchText;
    const lastUser = dicts.findLast((d) => d.role === "user");
    if (switchText !== undefined && request.thinking !== null && lastUser !== undefined) {
      lastUser.content = `${String(lastUser.content)} ${request.thinking ? switchText.on : switchText.off}`;
    }
    const definitions =
      tools === null
        ? null
        : tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description ?? "", parameters: t.parameters } }));
    if (definitions !== null && this.templateKnowsTools && this.family.toolDefinitions === "system-message-field") {
      // Phi-4-mini style: the tools as a JSON string on the system message (one is added where there is none).
      const system = dicts[0]?.role === "system" ? dicts[0] : undefined;
      if (system === undefined) dicts.unshift({ role: "system", content: "", tools: JSON.stringify(definitions) });
      else system.tools = JSON.stringify(definitions);
    }
    const context: Record<string, unknown> = {
      ...request.templateKwargs,
      messages: dicts,
      add_generation_prompt: true,
      bos_token: this.model.tokens.bosString ?? "",
      eos_token: this.model.tokens.eosString ?? "",
    };
    if (definitions !== null && this.templateKnowsTools) context.tools = this.family.toolDefinitions === "json-strings" ? definitions.map((d) => JSON.stringify(d)) : definitions;
    if (this.family.toolDefinitions === "functions-json") {
      context.functions = definitions === null ? "" : JSON.stringify(definitions, null, 2);
      context.datetime ??= gmtDateTime(new Date());
    }
    const switchVariable = this.reasoning?.switchVariable ?? null;
    if (request.thinking !== null && switchVariable !== null) context[switchVariable] = request.thinking;
    if (request.reasoningEffort !== null) context.reasoning_effort = this.family.reasoningEffortValues?.[request.reasoningEffort] ?? request.reasoningEffort;

    let text: string;
    try {
      text = this.template.render(context);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw invalidRequest(
        `The model's chat template could not render these messages: ${err instanceof Error ? err.message : String(err)}`,
        "messages",
        "chat_template_error",
      );
    }
    const plain = this.family.promptWithoutTools;
    if (tools === null && plain !== undefined && text.endsWith(plain.after)) text += plain.append;
    const tokens = this.model.tokenize(text, true);
    const bos = this.model.tokens.bos;
    if (bos !== null && this.model.tokens.shouldPrependBosToken && tokens[0] !== bos) tokens.unshift(bos);
    return { tokens, stopTexts: [], startsInReasoning: this.reasoning !== null && text.trimEnd().endsWith(this.reasoning.open) };
  }
}

/** Models without a chat template: node-llama-cpp's wrapper for the architecture. */
class WrapperPromptRenderer implements PromptRenderer {
  readonly family: ModelFamily;
  readonly reasoning = null;
  readonly name: string;
  private readonly wrapper: ChatWrapper;
  private readonly model: LlamaModel;

  constructor(model: LlamaModel) {
    this.model = model;
    this.wrapper = resolveChatWrapper(model);
    this.name = this.wrapper.wrapperName;
    this.family = detectFamily({ template: "", architecture: architectureOf(model), hasToken: (text) => isSingleToken(model, text) });
  }

  render(request: RenderRequest): RenderedPrompt {
    const tools = request.tools !== null && request.tools.length > 0 ? request.tools : null;
    const messages = tools === null ? request.messages : withToolPrompt(request.messages, tools);
    const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
      switch (m.role) {
        case "system":
          return { type: "system", text: m.content };
        case "user":
          return { type: "user", text: m.content };
        case "tool":
          return { type: "user", text: fallbackTurns.result(m.content) };
        case "assistant": {
          const calls = m.toolCalls.map((c) => fallbackTurns.call(c.name, c.arguments));
          return { type: "model", response: [[m.content, ...calls].filter((s) => s !== "").join("\n")] };
        }
      }
    });
    history.push({ type: "model", response: [] });
    const state = this.wrapper.generateContextState({ chatHistory: history });
    return { tokens: state.contextText.tokenize(this.model.tokenizer), stopTexts: plainTexts(state.stopGenerationTriggers), startsInReasoning: false };
  }
}

function architectureOf(model: LlamaModel): string {
  return String(model.fileInfo.metadata.general?.architecture ?? "");
}

/** Whether `text` is one token of the model's vocabulary (special tokens included). */
export function isSingleToken(model: LlamaModel, text: string): boolean {
  return model.tokenize(text, true).length === 1 && model.detokenize(model.tokenize(text, true), true) === text;
}

/** The renderer of `model`'s chat template, or of `override` (`--chat-template`) where given. */
export function createPromptRenderer(model: LlamaModel, override: string | null = null): PromptRenderer {
  const template = override ?? model.fileInfo.metadata.tokenizer?.chat_template;
  return typeof template === "string" && template.trim() !== "" ? new JinjaPromptRenderer(model, template) : new WrapperPromptRenderer(model);
}

/** `Jan 02 2026 15:04:05 GMT`, the time a template's `datetime` variable takes (FireFunction v2). */
function gmtDateTime(now: Date): string {
  const [, day, month, year, time] = now.toUTCString().replace(",", "").split(" ");
  return `${month} ${day} ${year} ${time} GMT`;
}
