/**
 * The skeleton every streaming call parser shares (`tool-call-parser.ts`'s
 * JSON shapes, `delimited-call-shape.ts`, `xml-call-shape.ts`,
 * `pythonic-call-shape.ts`, `gemma-call-shape.ts`, `function-tag-call-shape.ts`,
 * `recipient-call-shape.ts`), so a syntax is only its own states:
 *
 * - feeding: free text (`content`) is scanned in bulk for the start markers
 *   (`MarkerScanner`: across chunk splits, a possible partial marker held
 *   back); after the calls nothing may be recognised any more (`text`); every
 *   other state is the syntax's and gets one character at a time (`step`).
 * - an attempt: from a start marker until the call's name is known, the raw
 *   text is held (`pending`); if the attempt fails it is content again.
 * - call bookkeeping: index, id, the first delta with the name, argument
 *   fragments merged into one delta per push, the finished calls.
 * - text after a call: whitespace held, then more calls (parallel) or text;
 *   an optional close marker after a call.
 */
import type { ToolCallDelta } from "../../../protocol/chat-events.js";
import { MarkerScanner, isSpace } from "./marker-scanner.js";

/** What one push releases: content text, and tool-call deltas (the first of call i has id and name; later ones argument fragments). */
export interface ToolCallPiece {
  content: string;
  toolCalls: ToolCallDelta[];
}

export interface ParsedToolCall {
  id: string;
  name: string;
  /** Raw JSON text of the arguments value as generated; `{}` when there was none. */
  arguments: string;
}

/** A call whose name is known and whose arguments are still arriving. */
export interface OpenCall {
  index: number;
  id: string;
  name: string;
  arguments: string;
}

/** The states the base knows; a syntax adds its own. */
export type BaseState = "content" | "text";

export abstract class CallShapeParser<State extends string> {
  protected readonly newId: () => string;
  protected readonly parallel: boolean;
  protected readonly done: ParsedToolCall[] = [];
  protected state: State | BaseState;
  protected out: ToolCallPiece = emptyPiece();
  /** Raw text of an attempt not yet committed (no name yet): content if it fails. */
  protected pending = "";
  /** True while an attempt is uncommitted and consumed characters go to `pending`. */
  protected capturing = false;
  protected readonly markers: MarkerScanner;
  /** `content` entered after a call: whitespace dropped if a marker follows at once. */
  protected leadingSpace = "";
  /** Whitespace after a call: dropped if only whitespace or a call follows. */
  protected pendingSpace = "";
  /** Characters of a close marker matched so far. */
  protected tag = "";
  protected call: OpenCall | null = null;
  /** False where calls are only read at the start of the output (no start marker). */
  private readonly watchesMarkers: boolean;

  constructor(markers: readonly string[], options: { newId: () => string; parallel: boolean }, initial: State | BaseState = "content") {
    this.markers = new MarkerScanner(markers);
    this.watchesMarkers = markers.length > 0;
    this.newId = options.newId;
    this.parallel = options.parallel;
    this.state = initial;
  }

  /** Complete calls so far. */
  get calls(): readonly ParsedToolCall[] {
    return this.done;
  }

  /** Feed the next piece of output; returns what is safe to emit now. */
  push(text: string): ToolCallPiece {
    this.feed(text);
    return this.take();
  }

  /** End of generation: release held text and close a call cut off mid-way. */
  finish(): ToolCallPiece {
    if (this.call !== null) this.closeCall();
    else if (this.capturing) this.emitContent(this.pending);
    else this.releaseHeldMarker();
    this.resetTo("text");
    return this.take();
  }

  /** The open call is complete (or cut off, or broken): closed as its arguments stand and recorded. */
  protected abstract closeCall(): void;

  /** One character in a syntax's state; false when it must be scanned again in the new state. */
  protected abstract step(ch: string): boolean;

  /** A start marker was read (it is `pending`); set the state that follows it. */
  protected abstract markerFound(marker: string, leadingSpace: string): void;

  protected feed(text: string): void {
    let i = 0;
    while (i < text.length) {
      if (this.state === "content") {
        i = this.scanContent(text, i);
        continue;
      }
      if (this.state === "text") {
        this.emitContent(text.slice(i));
        return;
      }
      const ch = text.charAt(i);
      if (this.step(ch)) {
        if (this.capturing) this.pending += ch;
        i++;
      }
    }
  }

  /** Free text: emit all but a possible partial marker; returns the next index. */
  private scanContent(text: string, from: number): number {
    const { before, marker, next } = this.markers.scan(text, from);
    if (before !== "") {
      this.emitContent(this.leadingSpace + before);
      this.leadingSpace = "";
    }
    if (marker === null) return next;
    const space = this.leadingSpace;
    this.leadingSpace = "";
    this.pending = marker;
    this.capturing = true;
    this.markerFound(marker, space);
    return next;
  }

  /** `content` at the end: a held partial marker is text after all. */
  protected releaseHeldMarker(): void {
    if (this.state === "content" && this.markers.held !== "") this.emitContent(this.leadingSpace + this.markers.held);
  }

  /** The name is known: commit the attempt as call `done.length` and emit its first delta. */
  protected openCall(name: string, id: string = this.newId()): OpenCall {
    const call: OpenCall = { index: this.done.length, id, name, arguments: "" };
    this.call = call;
    this.capturing = false;
    this.pending = "";
    this.out.toolCalls.push({ index: call.index, id, name, arguments: "" });
    return call;
  }

  /**
   * One character of raw code (Functionary's `<|python_tag|>` and `python`
   * recipient) added to the arguments as JSON string text, one character at
   * a time, so the fragments are the same however the text was split.
   */
  protected stepCode(ch: string): boolean {
    this.addArguments(JSON.stringify(ch).slice(1, -1));
    return true;
  }

  /** A fragment of the open call's arguments (JSON text). */
  protected addArguments(text: string): void {
    const call = this.call;
    if (call === null) throw new Error("no call in progress");
    call.arguments += text;
    const last = this.out.toolCalls.at(-1);
    if (last !== undefined && last.index === call.index && last.name === undefined) last.arguments = (last.arguments ?? "") + text;
    else this.out.toolCalls.push({ index: call.index, arguments: text });
  }

  /** The open call is complete as its arguments stand. */
  protected recordCall(): void {
    const call = this.call;
    if (call === null) throw new Error("no call in progress");
    this.done.push({ id: call.id, name: call.name, arguments: call.arguments });
    this.call = null;
  }

  /** An uncommitted attempt failed: its raw text is content. */
  protected releaseAttempt(): void {
    this.emitContent(this.pending);
    this.pending = "";
    this.capturing = false;
  }

  /** An uncommitted attempt failed: its raw text is content, rescanned from here (only as text after a call without parallel calls). */
  protected attemptFailed(): boolean {
    this.releaseAttempt();
    this.state = this.onlyTextFollows ? "text" : "content";
    return false;
  }

  /** A syntax error inside a call: before its name it was text; after, the call keeps what arrived and the rest is text. */
  protected callBroken(): boolean {
    if (this.call === null) return this.attemptFailed();
    this.closeCall();
    this.state = "text";
    return false;
  }

  /** After a call without parallel calls, nothing more is recognised. */
  protected get onlyTextFollows(): boolean {
    return !this.parallel && this.done.length > 0;
  }

  /**
   * After a call: whitespace is held; then, with parallel calls, free text
   * watched for the next marker (`keepSpace`: the whitespace goes before it
   * as text unless a marker follows at once), or else text.
   */
  protected stepAfterCalls(ch: string, keepSpace: boolean): boolean {
    if (isSpace(ch)) {
      this.pendingSpace += ch;
      return true;
    }
    const space = keepSpace ? this.pendingSpace : "";
    this.pendingSpace = "";
    if (this.parallel && this.watchesMarkers) {
      this.leadingSpace = space;
      this.state = "content";
      return false;
    }
    this.emitContent(space);
    this.state = "text";
    return false;
  }

  /** After a call: whitespace and `close`, then `then`; anything else is text after the call, rescanned. */
  protected stepCloseMarker(ch: string, close: string, then: State): boolean {
    if (this.tag === "" && isSpace(ch)) {
      this.pendingSpace += ch;
      return true;
    }
    if (ch === close.charAt(this.tag.length)) {
      this.tag += ch;
      if (this.tag === close) {
        this.tag = "";
        this.pendingSpace = "";
        this.state = then;
      }
      return true;
    }
    // No close marker (or not all of it): what was matched is ordinary text again.
    const replay = this.tag;
    this.tag = "";
    this.state = then;
    if (replay !== "") this.feed(replay);
    return false;
  }

  /** Back to `state` with nothing held. */
  protected resetTo(state: State | BaseState): void {
    this.state = state;
    this.pending = "";
    this.capturing = false;
    this.markers.held = "";
    this.leadingSpace = "";
    this.pendingSpace = "";
    this.tag = "";
    this.call = null;
  }

  protected emitContent(text: string): void {
    this.out.content += text;
  }

  protected take(): ToolCallPiece {
    const out = this.out;
    this.out = emptyPiece();
    return out;
  }
}

function emptyPiece(): ToolCallPiece {
  return { content: "", toolCalls: [] };
}
