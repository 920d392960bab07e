/**
 * Renders a chat — messages, tool definitions, tool calls and results, the
 * thinking switch — into prompt tokens through the model's own chat template
 * (the GGUF's `tokenizer.chat_template`, run with @huggingface/jinja as
 * llama-server's --jinja does). Models without a template fall back to
 * node-llama-cpp's matching chat wrapper, with tools described in a system
 * message. The token count of this rendering is `usage.prompt_tokens`.
 */
import { Template } from "@huggingface/jinja";
import { LlamaText, resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type Token } from "node-llama-cpp";
import type { ChatMessage, ReasoningEffort, ToolDefinition } from "../../protocol/chat-request.js";
import { ApiError, invalidRequest } from "../../protocol/errors.js";
import type { ToolCallSyntax } from "./output/tool-call-parser.js";

export interface RenderRequest {
  messages: readonly ChatMessage[];
  /** Null: the prompt mentions no tools. */
  tools: readonly ToolDefinition[] | null;
  /** Null: the template's default. */
  thinking: boolean | null;
  reasoningEffort: ReasoningEffort | null;
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
  /** How this model writes tool calls. */
  readonly toolSyntax: ToolCallSyntax;
  /** The template has a thinking switch (enable_thinking / <think>). */
  readonly supportsThinking: boolean;
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

export function detectToolSyntax(template: string): ToolCallSyntax {
  if (template.includes("[TOOL_CALLS]")) return "mistral";
  if (template.includes("<|python_tag|>") || (template.includes("<|start_header_id|>") && template.includes("ipython"))) return "llama3-json";
  return "hermes";
}

/** For templates (or models) that know nothing of tools: describe them in a system message, Hermes style. */
export function toolSystemPrompt(tools: readonly ToolDefinition[]): string {
  const lines = tools.map((t) =>
    JSON.stringify({ type: "function", function: { name: t.name, description: t.description ?? "", parameters: t.parameters } }),
  );
  return [
    "You may call functions. Their definitions, one JSON object per line:",
    "<tools>",
    ...lines,
    "</tools>",
    "To call one, answer only with a block per call:",
    '<tool_call>\n{"name": "<function name>", "arguments": {<arguments>}}\n</tool_call>',
  ].join("\n");
}

function withToolPrompt(messages: readonly ChatMessage[], tools: readonly ToolDefinition[]): ChatMessage[] {
  const prompt = toolSystemPrompt(tools);
  const [first, ...rest] = messages;
  if (first?.role === "system") return [{ role: "system", content: `${first.content}\n\n${prompt}` }, ...rest];
  return [{ role: "system", content: prompt }, ...messages];
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** OpenAI-shaped message dicts, the way HF chat templates expect them (arguments as objects). */
function templateMessages(messages: readonly ChatMessage[]): Array<Record<string, unknown>> {
  return messages.map((m) => {
    if (m.role === "assistant") {
      const out: Record<string, unknown> = { role: "assistant", content: m.content };
      if (m.reasoning !== null) out.reasoning_content = m.reasoning;
      if (m.toolCalls.length > 0) {
        out.tool_calls = m.toolCalls.map((c) => ({
          id: c.id,
          type: "function",
          function: { name: c.name, arguments: parseArguments(c.arguments) },
        }));
      }
      return out;
    }
    if (m.role === "tool") return { role: "tool", content: m.content, tool_call_id: m.toolCallId, ...(m.name === null ? {} : { name: m.name }) };
    return { role: m.role, content: m.content };
  });
}

class JinjaPromptRenderer implements PromptRenderer {
  readonly name = "jinja";
  readonly toolSyntax: ToolCallSyntax;
  readonly supportsThinking: boolean;
  private readonly template: Template;
  private readonly templateKnowsTools: boolean;
  private readonly model: LlamaModel;

  constructor(model: LlamaModel, source: string) {
    this.model = model;
    this.template = new Template(source);
    this.toolSyntax = detectToolSyntax(source);
    this.templateKnowsTools = /\btools\b/.test(source);
    this.supportsThinking = source.includes("enable_thinking") || source.includes("<think>");
  }

  render(request: RenderRequest): RenderedPrompt {
    const tools = request.tools !== null && request.tools.length > 0 ? request.tools : null;
    const messages = tools !== null && !this.templateKnowsTools ? withToolPrompt(request.messages, tools) : request.messages;
    const context: Record<string, unknown> = {
      messages: templateMessages(messages),
      add_generation_prompt: true,
      bos_token: this.model.tokens.bosString ?? "",
      eos_token: this.model.tokens.eosString ?? "",
    };
    if (tools !== null && this.templateKnowsTools) {
      context.tools = tools.map((t) => ({
        type: "function",
        function: { name: t.name, description: t.description ?? "", parameters: t.parameters },
      }));
    }
    if (request.thinking !== null) context.enable_thinking = request.thinking;
    if (request.reasoningEffort !== null) context.reasoning_effort = request.reasoningEffort;

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
    const tokens = this.model.tokenize(text, true);
    const bos = this.model.tokens.bos;
    if (bos !== null && this.model.tokens.shouldPrependBosToken && tokens[0] !== bos) tokens.unshift(bos);
    return { tokens, stopTexts: [], startsInReasoning: /<think>\s*$/.test(text) };
  }
}

/** Models without a chat template: node-llama-cpp's wrapper for the architecture. */
class WrapperPromptRenderer implements PromptRenderer {
  readonly toolSyntax: ToolCallSyntax = "hermes";
  readonly supportsThinking = false;
  readonly name: string;
  private readonly wrapper: ChatWrapper;
  private readonly model: LlamaModel;

  constructor(model: LlamaModel) {
    this.model = model;
    this.wrapper = resolveChatWrapper(model);
    this.name = this.wrapper.wrapperName;
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
          return { type: "user", text: `<tool_response>\n${m.content}\n</tool_response>` };
        case "assistant": {
          const calls = m.toolCalls.map((c) => `<tool_call>\n{"name": ${JSON.stringify(c.name)}, "arguments": ${c.arguments}}\n</tool_call>`);
          return { type: "model", response: [[m.content, ...calls].filter((s) => s !== "").join("\n")] };
        }
      }
    });
    history.push({ type: "model", response: [] });
    const state = this.wrapper.generateContextState({ chatHistory: history });
    return { tokens: state.contextText.tokenize(this.model.tokenizer), stopTexts: plainTexts(state.stopGenerationTriggers), startsInReasoning: false };
  }
}

export function createPromptRenderer(model: LlamaModel): PromptRenderer {
  const template = model.fileInfo.metadata.tokenizer?.chat_template;
  return typeof template === "string" && template.trim() !== "" ? new JinjaPromptRenderer(model, template) : new WrapperPromptRenderer(model);
}
