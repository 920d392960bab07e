/**
 * Server-sent events on a raw Node response: `data: <json>\n\n` per event,
 * `data: [DONE]\n\n` at the end, honouring back-pressure so a slow reader
 * never makes us buffer without bound. A client that stops reading for longer
 * than `stallMs` is dropped (its socket destroyed), which cancels its
 * generation and frees its sequence for others.
 *
 * Events written in the same event-loop turn go out in one socket write
 * (corked until setImmediate): an upstream read that carries ten chunks
 * costs one syscall, not ten, while a lone token still leaves within the
 * turn. The headers travel with the first event.
 */
import type { ServerResponse } from "node:http";

export class SseWriter {
  private readonly res: ServerResponse;
  private readonly stallMs: number;
  private corked = false;

  constructor(res: ServerResponse, headers: Record<string, string> = {}, stallMs = 30_000) {
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

  /** Write one event; resolves once the socket can take more. */
  async send(payload: unknown): Promise<void> {
    await this.write(`data: ${JSON.stringify(payload)}\n\n`);
  }

  async done(): Promise<void> {
    this.end("data: [DONE]\n\n");
  }

  /** Ends the response; a client that never reads the rest loses its socket after `stallMs`. */
  end(last?: string): void {
    if (this.res.writableEnded) return;
    if (last !== undefined && !this.closed) this.res.end(last);
    else this.res.end();
    if (this.res.writableFinished) return;
    const timer = setTimeout(() => {
      if (!this.res.writableFinished) this.res.destroy(new Error("client stopped reading"));
    }, this.stallMs);
    timer.unref();
    this.res.once("finish", () => clearTimeout(timer));
    this.res.once("close", () => clearTimeout(timer));
  }

  private write(text: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (!this.corked) {
      this.corked = true;
      this.res.cork();
      setImmediate(() => {
        this.corked = false;
        this.res.uncork();
      });
    }
    if (this.res.write(text)) return Promise.resolve();
    return new Promise((resolve) => {
      const settle = (): void => {
        clearTimeout(timer);
        this.res.off("drain", settle);
        this.res.off("close", settle);
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
