/**
 * Counts requests being handled (streams included, which Fastify stops
 * tracking once a reply is hijacked), so shutdown can wait for their ledger
 * rows before it closes the database.
 */
export class InflightRequests {
  private count = 0;
  private waiters: Array<() => void> = [];

  /** Marks one request as started; call the returned function once it is finished. */
  begin(): () => void {
    this.count++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.count--;
      if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
    };
  }

  get size(): number {
    return this.count;
  }

  /** Resolves when no request is in flight, or after `timeoutMs` (false then). */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
