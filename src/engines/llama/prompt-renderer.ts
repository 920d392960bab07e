/**
 * Renders OpenAI messages through the model's own chat template (the GGUF's
 * Jinja template, or node-llama-cpp's matching wrapper) into prompt tokens.
 * The token count of this rendering is what `usage.prompt_tokens` reports.
 */
import {
  LlamaText,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import type { ChatMessage } from "../../protocol/chat-request.js";

export interface RenderedPrompt {
  tokens: Token[];
  /** Plain-text stop triggers of the template (special-token triggers end generation as EOG anyway). */
  stopTexts: string[];
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

export class PromptRenderer {
  readonly wrapper: ChatWrapper;
  private readonly model: LlamaModel;

  constructor(model: LlamaModel) {
    this.model = model;
    this.wrapper = resolveChatWrapper(model);
  }

  render(messages: readonly ChatMessage[]): RenderedPrompt {
    const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
      if (m.role === "system") return { type: "system", text: m.content };
      if (m.role === "user") return { type: "user", text: m.content };
      return { type: "model", response: [m.content] };
    });
    history.push({ type: "model", response: [] });
    const state = this.wrapper.generateContextState({ chatHistory: history });
    return { tokens: state.contextText.tokenize(this.model.tokenizer), stopTexts: plainTexts(state.stopGenerationTriggers) };
  }
}
