/**
 * One Gemma 4 value (as its tool calls write arguments), scanned a character
 * at a time and written out as JSON as it goes: strings between `<|"|>`
 * delimiters (raw text, no escapes: written JSON-escaped), numbers, `true`,
 * `false`, `null`, lists `[…]` and objects `{key:value,…}` whose keys are
 * bare (`city`) or delimited (`<|"|>city<|"|>`). JSON's own strings and
 * quoted keys are read too (a forced-call grammar writes values that are not
 * plain strings as JSON, see `families/gemma4-call-grammar.ts`).
 * Brackets, commas and string characters go out at once (a possible partial
 * closing delimiter is held back); a number or word goes out when it is
 * complete. Streaming-safe: the JSON written does not depend on how the text
 * was split.
 */
import type { LiteralStep } from "./python-literal.js";

/** Gemma 4's string delimiter (one special token). */
export const GEMMA_QUOTE = '<|"|>';

type Frame = { kind: "list"; at: "value?" | "value" | "next" } | { kind: "object"; at: "key?" | "key" | "bareKey" | "colon" | "value" | "next"; key: string };

type Scalar =
  | { kind: "opening"; matched: string } // `<|"|>` being read
  | { kind: "gemma"; held: string } // inside `<|"|>…`: `held` may be the start of the closing delimiter
  | { kind: "json"; escaped: boolean } // inside a JSON string, passed on as it is
  | { kind: "bare"; text: string }; // a number or word

const LITERAL = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;

export class GemmaValueScanner {
  private readonly emit: (json: string) => void;
  private readonly stack: Frame[] = [];
  private scalar: Scalar | null = null;
  private started = false;

  constructor(emit: (json: string) => void) {
    this.emit = emit;
  }

  step(ch: string): LiteralStep {
    if (this.scalar !== null) {
      const result = this.stepScalar(ch);
      if (result !== "end") return result;
      // A number or word ended just before `ch`.
      if (this.stack.length === 0) return "end";
    }
    return this.stepStructure(ch);
  }

  private stepScalar(ch: string): LiteralStep {
    const scalar = this.scalar;
    if (scalar === null) throw new Error("no scalar in progress");
    switch (scalar.kind) {
      case "opening": {
        const matched = scalar.matched + ch;
        if (!GEMMA_QUOTE.startsWith(matched)) return "error";
        if (matched === GEMMA_QUOTE) {
          this.scalar = { kind: "gemma", held: "" };
          this.emit('"');
        } else {
          scalar.matched = matched;
        }
        return "more";
      }
      case "gemma": {
        const text = scalar.held + ch;
        if (text === GEMMA_QUOTE) {
          this.emit('"');
          return this.scalarDone();
        }
        // Everything before the longest tail that may still open the delimiter is text.
        let at = 0;
        while (!GEMMA_QUOTE.startsWith(text.slice(at))) at++;
        if (at > 0) this.emit(jsonStringText(text.slice(0, at)));
        scalar.held = text.slice(at);
        return "more";
      }
      case "json":
        this.emit(ch);
        if (scalar.escaped) scalar.escaped = false;
        else if (ch === "\\") scalar.escaped = true;
        else if (ch === '"') return this.scalarDone();
        return "more";
      case "bare":
        if (/[A-Za-z0-9.+-]/.test(ch)) {
          scalar.text += ch;
          return "more";
        }
        if (!LITERAL.test(scalar.text)) return "error";
        this.emit(scalar.text);
        this.scalar = null;
        return "end";
    }
  }

  /** A string ended: the value is complete, or its container goes on. */
  private scalarDone(): LiteralStep {
    this.scalar = null;
    return this.stack.length === 0 ? "done" : "more";
  }

  private stepStructure(ch: string): LiteralStep {
    const top = this.stack.at(-1);
    if (top === undefined) {
      if (this.started) return "end";
      this.started = true;
      return this.startValue(ch);
    }
    if (top.kind === "object" && top.at === "bareKey") {
      if (isKeyChar(ch)) {
        top.key += ch;
        return "more";
      }
      this.emit(JSON.stringify(top.key));
      top.at = "colon";
    }
    if (isSpace(ch)) return "more";
    if (top.kind === "list") {
      if (top.at === "next") {
        if (ch === ",") {
          this.emit(",");
          top.at = "value";
          return "more";
        }
        return ch === "]" ? this.close("]") : "error";
      }
      if (ch === "]" && top.at === "value?") return this.close("]");
      top.at = "next";
      return this.startValue(ch);
    }
    switch (top.at) {
      case "key?":
      case "key":
        if (ch === "}" && top.at === "key?") return this.close("}");
        top.at = "colon";
        if (ch === "<") return this.startString(ch);
        if (ch === '"') return this.startString(ch);
        if (!isKeyChar(ch)) return "error";
        top.at = "bareKey";
        top.key = ch;
        return "more";
      case "bareKey":
        throw new Error("unreachable: a bare key is read above");
      case "colon":
        if (ch !== ":") return "error";
        this.emit(":");
        top.at = "value";
        return "more";
      case "value":
        top.at = "next";
        return this.startValue(ch);
      case "next":
        if (ch === ",") {
          this.emit(",");
          top.at = "key";
          return "more";
        }
        return ch === "}" ? this.close("}") : "error";
    }
  }

  private startValue(ch: string): LiteralStep {
    if (ch === "{") {
      this.emit("{");
      this.stack.push({ kind: "object", at: "key?", key: "" });
      return "more";
    }
    if (ch === "[") {
      this.emit("[");
      this.stack.push({ kind: "list", at: "value?" });
      return "more";
    }
    if (ch === "<" || ch === '"') return this.startString(ch);
    if (/[-0-9a-z]/.test(ch)) {
      this.scalar = { kind: "bare", text: ch };
      return "more";
    }
    return "error";
  }

  private startString(ch: string): LiteralStep {
    if (ch === "<") {
      this.scalar = { kind: "opening", matched: "<" };
    } else {
      this.emit('"');
      this.scalar = { kind: "json", escaped: false };
    }
    return "more";
  }

  private close(closer: "]" | "}"): LiteralStep {
    this.emit(closer);
    this.stack.pop();
    return this.stack.length === 0 ? "done" : "more";
  }
}

/** Raw text as the inside of a JSON string. */
function jsonStringText(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/** Characters of a bare key. */
export function isKeyChar(ch: string): boolean {
  return /[A-Za-z0-9_.$-]/.test(ch);
}

function isSpace(ch: string): boolean {
  return /\s/.test(ch);
}
