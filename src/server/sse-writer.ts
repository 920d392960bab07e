/**
 * Server-sent events on a raw Node response: `data: <json>\n\n` per event
 * (after `event: <name>\n` when it is named), `data: [DONE]\n\n` at the end
 * of a chat stream, honouring back-pressure so a slow reader
 * never makes us buffer without bound. A client that stops reading for longer
 * than `stallMs` is dropped (its socket destroyed), which cancels its
 * generation and frees its sequence for others.
 *
 * Events sent in the same event-loop turn are joined into one string and go
 * out in one `write` at setImmediate: one HTTP chunk and one syscall for an
 * upstream read that carries ten chunks, not ten of each, while a lone token
 * still leaves within the turn. The headers travel with the first write.
 */
import type { ServerResponse } from "node:http";

const settled = Promise.resolve();

export class SseWriter {
  private readonly res: ServerResponse;
  private readonly stallMs: number;
  /** Events waiting for this turn's write. */
  private pending = "";
  private scheduled = false;
  /** Set while the socket is over its high-water mark: resolves on drain or close. */
  private blocked: Promise<void> | null = null;

  constructor(res: ServerResponse, headers: Record<string, string>, stallMs: number) {
    this.res = res;
    this.stallMs = stallMs;
    res.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /**
   * Queue one event for this turn's write. Resolves at once unless the
   * client has not taken the previous writes yet (back-pressure): then once
   * it has, or once it is dropped for stalling.
   */
  send(payload: unknown, event?: string): Promise<void> {
    if (this.closed) return settled;
    this.pending += `${event === undefined ? "" : `event: ${event}\n`}data: ${JSON.stringify(payload)}\n\n`;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    return this.blocked ?? settled;
  }

  async done(terminator = "[DONE]"): Promise<void> {
    this.end(`data: ${terminator}\n\n`);
  }

  /** Ends the response; a client that never reads the rest loses its socket after `stallMs`. */
  end(last = ""): void {
    if (this.res.writableEnded) return;
    const text = this.pending + last;
    this.pending = "";
    if (text !== "" && !this.closed) this.res.end(text);
    else this.res.end();
    if (this.res.writableFinished) return;
    const timer = setTimeout(() => {
      if (!this.res.writableFinished) this.res.destroy(new Error("client stopped reading"));
    }, this.stallMs);
    timer.unref();
    this.res.once("finish", () => clearTimeout(timer));
    this.res.once("close", () => clearTimeout(timer));
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const text = this.pending;
    this.pending = "";
    if (text === "" || this.closed) return;
    if (!this.res.write(text) && this.blocked === null) this.blocked = this.drained();
  };

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const settle = (): void => {
        clearTimeout(timer);
        this.res.off("drain", settle);
        this.res.off("close", settle);
        this.blocked = null;
        resolve();
      };
      const timer = setTimeout(() => {
        this.res.destroy(new Error("client stopped reading"));
        settle();
      }, this.stallMs);
      this.res.on("drain", settle);
      this.res.on("close", settle);
    });
  }
}
