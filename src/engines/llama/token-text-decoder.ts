import type { LlamaModel, Token } from "node-llama-cpp";

/** How many tokens may wait for the rest of a split UTF-8 character before we give up and emit. */
const maxHeldTokens = 4;

/**
 * Turns generated tokens into text incrementally. A multi-byte character can
 * be split across tokens; until it is complete the detokenized text ends with
 * U+FFFD, so those tokens are held back and decoded together with the next.
 *
 * Special tokens are not text, except `markers`: the special tokens the
 * output parsers read (a family's tool-call and reasoning markers, which
 * real GGUFs often store as control tokens, e.g. Mistral's `[TOOL_CALLS]`).
 */
export class TokenTextDecoder {
  private readonly model: LlamaModel;
  private readonly markers: ReadonlySet<Token>;
  private pending: Token[] = [];
  private context: Token[] = [];

  /** `after`: tokens the text continues (a raw prompt's tail), so the first token keeps its leading space. */
  constructor(model: LlamaModel, markers: ReadonlySet<Token> = new Set(), after: readonly Token[] = []) {
    this.model = model;
    this.markers = markers;
    this.context = after.slice(-maxHeldTokens);
  }

  push(token: Token): string {
    if (this.markers.has(token)) {
      const before = this.flush();
      this.context = [token];
      return before + this.model.detokenize([token], true);
    }
    this.pending.push(token);
    const text = this.model.detokenize(this.pending, false, this.context);
    if (text.endsWith("\uFFFD") && this.pending.length < maxHeldTokens) return "";
    this.context = this.context.concat(this.pending).slice(-maxHeldTokens);
    this.pending = [];
    return text;
  }

  flush(): string {
    if (this.pending.length === 0) return "";
    const text = this.model.detokenize(this.pending, false, this.context);
    this.pending = [];
    return text;
  }
}
