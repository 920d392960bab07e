/**
 * Finds stop sequences in streamed text and holds back any tail that could be
 * the start of one, so a stop string is never emitted, even when the model
 * produces it split across several tokens.
 *
 * With `trimTrailingWhitespace` (JSON grammars end in free whitespace),
 * whitespace is also held until something other than whitespace follows it,
 * so the output never ends in it, streamed or not.
 */
export interface StopScan {
  /** Text that is safe to emit now. */
  emit: string;
  /** True when a stop sequence was found; nothing after it is emitted. */
  stopped: boolean;
  /** The stop sequence found (the first in the text), when stopped. */
  stop?: string;
}

export class StopMatcher {
  private readonly stops: readonly string[];
  private readonly trim: boolean;
  private held = "";

  constructor(stops: readonly string[], options: { trimTrailingWhitespace?: boolean } = {}) {
    this.stops = stops.filter((s) => s.length > 0);
    this.trim = options.trimTrailingWhitespace === true;
  }

  push(text: string): StopScan {
    const buffer = this.held + text;
    let cut = -1;
    let found = "";
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) {
        cut = at;
        found = stop;
      }
    }
    if (cut >= 0) {
      this.held = "";
      const emit = buffer.slice(0, cut);
      return { emit: this.trim ? emit.trimEnd() : emit, stopped: true, stop: found };
    }
    let keep = this.partialSuffixLength(buffer);
    if (this.trim) keep = Math.max(keep, buffer.length - buffer.trimEnd().length);
    this.held = buffer.slice(buffer.length - keep);
    return { emit: buffer.slice(0, buffer.length - keep), stopped: false };
  }

  /** What is still held back; call when generation ends without a stop. */
  flush(): string {
    const out = this.trim ? this.held.trimEnd() : this.held;
    this.held = "";
    return out;
  }

  /** Length of the longest suffix of `buffer` that is a proper prefix of a stop sequence. */
  private partialSuffixLength(buffer: string): number {
    let best = 0;
    for (const stop of this.stops) {
      const max = Math.min(stop.length - 1, buffer.length);
      for (let len = max; len > best; len--) {
        if (buffer.endsWith(stop.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}
