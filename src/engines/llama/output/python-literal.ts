/**
 * One Python literal (as pythonic tool calls write argument values), scanned a
 * character at a time and written out as JSON as it goes: strings in either
 * quote with Python escapes, numbers (`1_000`, `.5`, `1e3`), `True`/`False`/
 * `None` (and JSON's `true`/`false`/`null`, which grammars and sloppy models
 * write too), lists, tuples (as JSON arrays) and dicts whose keys are strings
 * (JSON has no other keys). Brackets and commas go out at once; a scalar goes out when it
 * is complete. Streaming-safe: the JSON written does not depend on how the
 * text was split. No library parses Python literals incrementally in
 * JavaScript, and a whole-text parser would hold every argument back until
 * the call ends, so this is our own.
 */

/** `more`: part of the value; `done`: its last character; `end`: not part of it, the value ended before; `error`: not a literal. */
export type LiteralStep = "more" | "done" | "end" | "error";

type Frame = { kind: "list"; closer: "]" | ")"; at: "value?" | "value" | "next" } | { kind: "dict"; at: "key?" | "key" | "colon" | "value" | "next" };

const WORDS: Readonly<Record<string, string>> = { True: "true", False: "false", None: "null", true: "true", false: "false", null: "null" };

export class PythonLiteralScanner {
  private readonly emit: (json: string) => void;
  private readonly stack: Frame[] = [];
  /** A scalar in progress: its kind and raw text. */
  private scalar: { kind: "string" | "number" | "word"; text: string; quote: string; escaped: boolean } | null = null;
  /** A comma read in a container: written only once another item follows (Python allows a trailing comma). */
  private heldComma = false;
  private started = false;

  constructor(emit: (json: string) => void) {
    this.emit = emit;
  }

  step(ch: string): LiteralStep {
    if (this.scalar !== null) {
      const result = this.stepScalar(ch);
      if (result !== "end") return result;
      // A number or word ended just before `ch`: the container goes on with it.
      if (this.stack.length === 0) return "end";
    }
    return this.stepStructure(ch);
  }

  private stepStructure(ch: string): LiteralStep {
    const top = this.stack.at(-1);
    if (top === undefined) {
      if (this.started) return "end";
      if (isSpace(ch)) return "error";
      this.started = true;
      return this.startValue(ch);
    }
    if (isSpace(ch)) return "more";
    if (top.kind === "list") {
      if (top.at === "next") {
        if (ch === ",") {
          this.heldComma = true;
          top.at = "value";
          return "more";
        }
        return ch === top.closer ? this.close("]") : "error";
      }
      if (ch === top.closer) return this.close("]"); // empty, or after a trailing comma
      top.at = "next";
      return this.startValue(ch);
    }
    switch (top.at) {
      case "key?":
      case "key":
        if (ch === "}") return this.close("}"); // empty, or after a trailing comma
        if (ch !== '"' && ch !== "'") return "error"; // string keys only: JSON has no others
        top.at = "colon";
        return this.startValue(ch);
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
          this.heldComma = true;
          top.at = "key";
          return "more";
        }
        if (ch === "}") return this.close("}");
        return "error";
    }
  }

  /** The first character of a value (or of a dict key). */
  private startValue(ch: string): LiteralStep {
    if (this.heldComma) {
      this.emit(",");
      this.heldComma = false;
    }
    if (ch === '"' || ch === "'") {
      this.scalar = { kind: "string", text: "", quote: ch, escaped: false };
      return "more";
    }
    if (isNumberStart(ch)) {
      this.scalar = { kind: "number", text: ch, quote: "", escaped: false };
      return "more";
    }
    if (/[A-Za-z]/.test(ch)) {
      this.scalar = { kind: "word", text: ch, quote: "", escaped: false };
      return "more";
    }
    if (ch === "[" || ch === "(") {
      this.stack.push({ kind: "list", closer: ch === "[" ? "]" : ")", at: "value?" });
      this.emit("[");
      return "more";
    }
    if (ch === "{") {
      this.stack.push({ kind: "dict", at: "key?" });
      this.emit("{");
      return "more";
    }
    return "error";
  }

  private close(json: "]" | "}"): LiteralStep {
    this.stack.pop();
    this.heldComma = false;
    this.emit(json);
    return this.stack.length === 0 ? "done" : "more";
  }

  private stepScalar(ch: string): LiteralStep {
    const scalar = this.scalar;
    if (scalar === null) throw new Error("no scalar in progress");
    if (scalar.kind === "string") {
      if (scalar.escaped) {
        scalar.escaped = false;
        scalar.text += ch;
        return "more";
      }
      if (ch === "\\") {
        scalar.escaped = true;
        scalar.text += ch;
        return "more";
      }
      if (ch !== scalar.quote) {
        scalar.text += ch;
        return "more";
      }
      const decoded = decodePythonString(scalar.text);
      if (decoded === null) return "error";
      this.scalar = null;
      this.emit(JSON.stringify(decoded));
      return this.stack.length === 0 ? "done" : "more";
    }
    if (scalar.kind === "number" ? /[0-9A-Za-z_.+-]/.test(ch) : /[A-Za-z0-9_]/.test(ch)) {
      scalar.text += ch;
      return "more";
    }
    const json = scalar.kind === "number" ? numberJson(scalar.text) : (WORDS[scalar.text] ?? null);
    if (json === null) return "error";
    this.scalar = null;
    this.emit(json);
    return "end";
  }

  /** End of text: a number or word at the very end is complete; false when the value is not. */
  finish(): boolean {
    const scalar = this.scalar;
    if (scalar === null || scalar.kind === "string" || this.stack.length > 0) return scalar === null && this.stack.length === 0 && this.started;
    const json = scalar.kind === "number" ? numberJson(scalar.text) : (WORDS[scalar.text] ?? null);
    if (json === null) return false;
    this.scalar = null;
    this.emit(json);
    return true;
  }
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const PYTHON_NUMBER = /^[+-]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?$/;

/** A Python int or float as JSON (as written when it already is JSON); null for anything else. */
function numberJson(text: string): string | null {
  if (JSON_NUMBER.test(text)) return text;
  if (!PYTHON_NUMBER.test(text)) return null;
  const value = Number(text.replace(/_/g, ""));
  return Number.isFinite(value) ? JSON.stringify(value) : null;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  n: "\n",
  t: "\t",
  r: "\r",
  b: "\b",
  f: "\f",
  v: "\v",
  a: "\x07",
  "0": "\0",
  "\\": "\\",
  "'": "'",
  '"': '"',
  "/": "/", // JSON's escape, which grammar-made strings may hold
  "\n": "",
};

/** The text of a Python string body (between its quotes); null where an escape is malformed. */
export function decodePythonString(body: string): string | null {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const ch = body.charAt(i);
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = body.charAt(i + 1);
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      out += simple;
      i++;
      continue;
    }
    const hexLength = next === "x" ? 2 : next === "u" ? 4 : next === "U" ? 8 : 0;
    if (hexLength > 0) {
      const hex = body.slice(i + 2, i + 2 + hexLength);
      if (!new RegExp(`^[0-9A-Fa-f]{${hexLength}}$`).test(hex)) return null;
      const cp = Number.parseInt(hex, 16);
      if (cp > 0x10ffff) return null;
      out += String.fromCodePoint(cp);
      i += 1 + hexLength;
      continue;
    }
    out += ch; // Python keeps the backslash of an unknown escape
  }
  return out;
}

function isNumberStart(ch: string): boolean {
  return /[0-9.+-]/.test(ch);
}

function isSpace(ch: string): boolean {
  return /\s/.test(ch);
}
