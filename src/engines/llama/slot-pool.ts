/**
 * A fixed set of slots (context sequences) handed out to requests, with a
 * bounded FIFO wait queue. A waiter gets the free slot it scores highest,
 * which is how a request lands on the sequence already holding its prefix;
 * among equal scores the slot given first to the constructor wins, so busy
 * slots stay packed at the low end (llama.cpp decodes consecutive sequence
 * ids in one micro-batch, see batch-scheduler.ts).
 */
import { invalidRequest, overloaded } from "../../protocol/errors.js";

interface Waiter<T> {
  score: (slot: T) => number;
  resolve: (slot: T) => void;
  reject: (err: unknown) => void;
}

export class SlotPool<T> {
  private readonly free: T[];
  private readonly order: Map<T, number>;
  private readonly waiters: Waiter<T>[] = [];
  readonly capacity: number;
  private readonly maxWaiting: number;

  constructor(slots: readonly T[], maxWaiting: number) {
    this.free = [...slots];
    this.order = new Map(slots.map((slot, i) => [slot, i]));
    this.capacity = slots.length;
    this.maxWaiting = maxWaiting;
  }

  get active(): number {
    return this.capacity - this.free.length;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Throws 503 when `count` more acquisitions would overflow the wait queue,
   * or 400 when no amount of waiting could ever admit that many (`n` too large).
   */
  admit(count: number): void {
    if (count > this.capacity + this.maxWaiting) {
      throw invalidRequest(`n=${count} exceeds what this model can run at once (${this.capacity + this.maxWaiting}).`, "n", "invalid_value");
    }
    const wouldWait = Math.max(0, count - this.free.length) + this.waiters.length;
    if (wouldWait > this.maxWaiting) {
      throw overloaded(
        `The model is at capacity (${this.capacity} running, ${this.waiters.length} waiting). Retry shortly.`,
        1,
      );
    }
  }

  acquire(score: (slot: T) => number, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.free.length > 0 && this.waiters.length === 0) return Promise.resolve(this.take(score));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        score,
        resolve: (slot) => {
          signal.removeEventListener("abort", onAbort);
          resolve(slot);
        },
        reject,
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(slot: T): void {
    const rank = this.order.get(slot) ?? Number.MAX_SAFE_INTEGER;
    const at = this.free.findIndex((s) => (this.order.get(s) ?? Number.MAX_SAFE_INTEGER) > rank);
    if (at < 0) this.free.push(slot);
    else this.free.splice(at, 0, slot);
    const next = this.waiters.shift();
    if (next !== undefined) next.resolve(this.take(next.score));
  }

  private take(score: (slot: T) => number): T {
    let bestIndex = 0;
    let bestScore = -Infinity;
    this.free.forEach((slot, i) => {
      const s = score(slot);
      if (s > bestScore) {
        bestScore = s;
        bestIndex = i;
      }
    });
    const [slot] = this.free.splice(bestIndex, 1);
    if (slot === undefined) throw new Error("SlotPool.take called with no free slot");
    return slot;
  }
}
