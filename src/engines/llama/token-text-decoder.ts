import type { LlamaModel, Token } from "node-llama-cpp";

/** How many tokens may wait for the rest of a split UTF-8 character before we give up and emit. */
const maxHeldTokens = 4;

/**
 * Turns generated tokens into text incrementally. A multi-byte character can
 * be split across tokens; until it is complete the detokenized text ends with
 * U+FFFD, so those tokens are held back and decoded together with the next.
 */
export class TokenTextDecoder {
  private readonly model: LlamaModel;
  private pending: Token[] = [];
  private context: Token[] = [];

  constructor(model: LlamaModel) {
    this.model = model;
  }

  push(token: Token): string {
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
