/**
 * Server-sent events on a raw Node response: `data: <json>\n\n` per event,
 * `data: [DONE]\n\n` at the end, honouring back-pressure so a slow reader
 * never makes us buffer without bound.
 */
import type { ServerResponse } from "node:http";

export class SseWriter {
  private readonly res: ServerResponse;

  constructor(res: ServerResponse, headers: Record<string, string> = {}) {
    this.res = res;
    res.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.flushHeaders();
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** Write one event; resolves once the socket can take more. */
  async send(payload: unknown): Promise<void> {
    await this.write(`data: ${JSON.stringify(payload)}\n\n`);
  }

  async done(): Promise<void> {
    await this.write("data: [DONE]\n\n");
    this.end();
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }

  private write(text: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.res.write(text)) return Promise.resolve();
    return new Promise((resolve) => {
      const settle = (): void => {
        this.res.off("drain", settle);
        this.res.off("close", settle);
        resolve();
      };
      this.res.on("drain", settle);
      this.res.on("close", settle);
    });
  }
}
