/**
 * How each llama.cpp batch is filled when several sequences have pending
 * tokens — node-llama-cpp's batching strategy hook.
 *
 * Decoding sequences (one pending token each) always go in, so a new
 * request's prompt never stalls the streams already running for longer than
 * one prefill chunk. Prompts are then processed oldest first in chunks of at
 * most `prefillChunk` tokens while anyone is decoding (the whole batch when
 * nobody is): the first request in line gets its first token soonest, instead
 * of every waiting prompt advancing a little and all finishing late.
 */
import type { BatchItem, CustomBatchingPrioritizationStrategy, PrioritizedBatchItem } from "node-llama-cpp";

export function decodeFirstStrategy(prefillChunk: number): CustomBatchingPrioritizationStrategy {
  return ({ items, size }: { items: readonly BatchItem[]; size: number }): PrioritizedBatchItem[] => {
    const batch: PrioritizedBatchItem[] = [];
    let free = size;
    let decoding = 0;
    for (const item of items) {
      if (item.tokens.length !== 1 || free === 0) continue;
      batch.push({ item, processAmount: 1 });
      free--;
      decoding++;
    }
    let budget = decoding > 0 ? Math.min(free, prefillChunk) : free;
    for (const item of items) {
      if (item.tokens.length <= 1 || budget === 0) continue;
      const amount = Math.min(item.tokens.length, budget);
      batch.push({ item, processAmount: amount });
      budget -= amount;
    }
    return batch;
  };
}
