import assert from "node:assert/strict";
import { test } from "node:test";
import type { BatchItem, Token } from "node-llama-cpp";
import { BatchPlanner, decodeFirstStrategy, StepCosts } from "../src/engines/llama/batch-scheduler.js";

const item = (tokens: number): BatchItem => ({ tokens: Array.from({ length: tokens }, (_, i) => i as Token), logits: [], evaluationPriority: 5 });

test("decoding sequences always get their token; prompts share a bounded chunk, oldest first", () => {
  const decoders = [item(1), item(1), item(1)];
  const older = item(300);
  const newer = item(200);
  const batch = decodeFirstStrategy(128)({ items: [decoders[0]!, older, decoders[1]!, newer, decoders[2]!], size: 512 });
  const amount = (i: BatchItem): number | undefined => batch.find((b) => b.item === i)?.processAmount;
  for (const d of decoders) assert.equal(amount(d), 1);
  assert.equal(amount(older), 128, "the oldest prompt takes the whole chunk");
  assert.equal(amount(newer), undefined, "the newer prompt waits for the next batch");
});

test("a prompt shorter than the chunk leaves room for the next one", () => {
  const a = item(50);
  const b = item(200);
  const batch = decodeFirstStrategy(128)({ items: [item(1), a, b], size: 512 });
  assert.deepEqual(batch.map((x) => x.processAmount), [1, 50, 78]);
});

test("with nobody decoding, prompts use the whole batch; a burst that overflows it keeps each prompt's last token back", () => {
  assert.deepEqual(decodeFirstStrategy(128)({ items: [item(300), item(200)], size: 512 }).map((x) => x.processAmount), [300, 200], "all fit: all finish");
  assert.deepEqual(decodeFirstStrategy(128)({ items: [item(300), item(400)], size: 512 }).map((x) => x.processAmount), [299, 213], "they do not: none finishes");
  assert.deepEqual(
    decodeFirstStrategy(128)({ items: [item(1), item(1), item(1)], size: 2 }).map((x) => x.processAmount),
    [1, 1],
    "only last tokens left and more than fit: they go in turns",
  );
});

test("the batch size is never exceeded", () => {
  const items = Array.from({ length: 20 }, () => item(1));
  const batch = decodeFirstStrategy(128)({ items: [...items, item(100)], size: 16 });
  assert.equal(batch.reduce((s, b) => s + b.processAmount, 0), 16);
});

test("the planner holds a batch back until every generating sequence has queued its token, a bounded number of times", () => {
  const planner = new BatchPlanner({ prefillChunk: 0, maxGatherAsks: 3 });
  const a0 = planner.enter();
  planner.enter();
  const a = item(1);
  assert.deepEqual(planner.strategy({ items: [a], size: 512 }), [], "one of two sequences queued: wait");
  assert.deepEqual(planner.strategy({ items: [a], size: 512 }), []);
  assert.deepEqual(planner.strategy({ items: [a], size: 512 }), []);
  assert.equal(planner.strategy({ items: [a], size: 512 }).length, 1, "gives up after maxGatherAsks");
  assert.equal(planner.stats.gaveUpWaiting, 1);
  assert.equal(planner.strategy({ items: [a, item(1)], size: 512 }).length, 2, "both queued: dispatch at once");
  a0.leave();
  a0.leave();
  assert.equal(planner.active, 1, "leaving is idempotent");
  assert.equal(planner.strategy({ items: [a], size: 512 }).length, 1, "the one generating sequence is not held back");
});

test("the planner orders a batch by sequence id (llama.cpp keeps only consecutive ids in one micro-batch)", () => {
  const planner = new BatchPlanner({ prefillChunk: 0 });
  const items = [item(1), item(1), item(40), item(1)];
  const ids = [2, 0, 3, 1];
  const fakeContext = { _queuedDecodes: items.map((it, i) => ({ tokens: it.tokens, sequenceId: ids[i] })) };
  planner.attach(fakeContext as unknown as Parameters<BatchPlanner["attach"]>[0]);
  for (let i = 0; i < 4; i++) planner.enter();
  const batch = planner.strategy({ items, size: 512 });
  assert.deepEqual(
    batch.map((b) => ids[items.indexOf(b.item)]),
    [0, 1, 2, 3],
  );
  assert.deepEqual(batch.map((b) => b.processAmount), [1, 1, 1, 40]);
});

test("step costs: decode-only steps give ms per step, steps with prompts give ms per prompt token beyond it", () => {
  const costs = new StepCosts();
  assert.equal(costs.chunkFor(3), 0, "nothing measured: no limit");
  costs.observe(4, 0, 100);
  assert.equal(costs.decodeMs, 100);
  assert.equal(costs.chunkFor(3), 0, "no prompt cost measured yet: no limit");
  costs.observe(4, 400, 100 + 400 * 5); // 5 ms per prompt token on top of the decode step
  assert.equal(costs.promptTokenMs, 5);
  assert.equal(costs.mixedTokenMs, 5, "a step with decoders also says what a prompt token costs beside them");
  assert.equal(costs.chunkFor(3), 34, "0.85 (headroom) × (3 − 1) × 100 ms / 5 ms");
  costs.observe(4, 40, 100 + 40 * 10);
  assert.equal(costs.mixedTokenMs, 7.5, "mixed steps are followed quickly (half way per step)");
  assert.equal(costs.chunkFor(3), 22, "and the budget follows them");
  assert.equal(costs.chunkFor(1.05), 16, "never below the minimum chunk: prefill always moves");
  const before = costs.promptTokenMs;
  costs.observe(0, 10, 1000);
  assert.equal(costs.promptTokenMs, before, "steps with few prompt tokens say little about their cost and are ignored");
  costs.observe(4, 0, 200);
  assert.ok(costs.decodeMs > 100 && costs.decodeMs < 200, "a moving average, not the last value");
});

test("the planner caps prompt tokens beside decoders from what it measured, and fills the batch when nobody decodes", () => {
  let clock = 0;
  const planner = new BatchPlanner({ prefillChunk: 0, maxStall: 3, now: () => clock });
  planner.enter();
  // Step 1: a 500-token prompt alone: 2,500 ms (5 ms a token).
  assert.deepEqual(planner.strategy({ items: [item(500)], size: 2048 }).map((b) => b.processAmount), [500]);
  clock += 2500;
  // Step 2: the sequence decodes alone: 100 ms.
  const decoder = item(1);
  assert.deepEqual(planner.strategy({ items: [decoder], size: 2048 }).map((b) => b.processAmount), [1]);
  clock += 100;
  assert.equal(planner.costs.decodeMs, null, "a step is measured when the planner is next asked");
  // Step 3: a new prompt arrives beside the decoder: at most 0.85 × (3 − 1) × 100 / 5 = 34 prompt tokens.
  planner.enter();
  const prompt = item(300);
  const batch = planner.strategy({ items: [decoder, prompt], size: 2048 });
  assert.equal(planner.costs.decodeMs, 100);
  assert.equal(planner.costs.promptTokenMs, 5);
  assert.deepEqual(batch.map((b) => [b.item === decoder ? "decoder" : "prompt", b.processAmount]), [["decoder", 1], ["prompt", 34]]);
  // Without a stall limit the prompt takes what the batch has room for.
  const unlimited = new BatchPlanner({ prefillChunk: 0, maxStall: 0 });
  unlimited.enter();
  unlimited.enter();
  assert.deepEqual(unlimited.strategy({ items: [item(1), item(300)], size: 2048 }).map((b) => b.processAmount), [1, 300]);
});

test("prompts that reach an idle engine together are released together, after the burst", async () => {
  const planner = new BatchPlanner({ prefillChunk: 0, gatherMs: 20 });
  const released: string[] = [];
  const first = planner.beforePrompt();
  assert.ok(first !== null, "an idle engine opens a window");
  const firstDone = first.then(() => released.push("first"));
  await new Promise((r) => setTimeout(r, 10));
  const second = planner.beforePrompt();
  assert.equal(second, first, "a prompt arriving within the window joins it");
  await new Promise((r) => setTimeout(r, 15));
  assert.deepEqual(released, [], "each arrival keeps the window open a little longer");
  await firstDone;
  assert.deepEqual(released, ["first"]);
  planner.enter();
  assert.equal(planner.beforePrompt(), null, "with a sequence generating, a prompt goes at once (it joins the next batch)");
  assert.equal(new BatchPlanner({ prefillChunk: 0, gatherMs: 0 }).beforePrompt(), null, "gatherMs 0: no window");
});

test("a waiting cache edit holds generating sequences and stops batches from waiting for them", async () => {
  const planner = new BatchPlanner({ prefillChunk: 0 });
  planner.enter();
  planner.enter();
  assert.equal(planner.afterCacheEdits(), null, "no edit waits: tokens go at once");
  const done = planner.beginCacheEdit();
  const second = planner.beginCacheEdit();
  const held = planner.afterCacheEdits();
  assert.ok(held !== null);
  let resumed = false;
  void held.then(() => (resumed = true));
  // One of two generating sequences queued: normally held back, but not while an edit waits.
  assert.equal(planner.strategy({ items: [item(1)], size: 512 }).length, 1);
  done();
  done();
  await Promise.resolve();
  assert.equal(resumed, false, "held until every waiting edit is done");
  second();
  await held;
  assert.equal(planner.afterCacheEdits(), null);
  assert.deepEqual(planner.strategy({ items: [item(1)], size: 512 }), [], "gathering is back once the edits are done");
});

/** A planner over a fake context whose queue says which sequence each item belongs to. */
function plannerWithQueue(options: ConstructorParameters<typeof BatchPlanner>[0]) {
  const planner = new BatchPlanner(options);
  const queue: Array<{ tokens: readonly Token[]; sequenceId: number }> = [];
  planner.attach({ _queuedDecodes: queue } as unknown as Parameters<BatchPlanner["attach"]>[0]);
  /** What sequence `id` has queued now (node-llama-cpp keeps the rest of a prompt after a partial step). */
  const queued = (id: number, tokens: number): BatchItem => {
    const it = item(tokens);
    const at = queue.findIndex((q) => q.sequenceId === id);
    if (at >= 0) queue.splice(at, 1);
    queue.push({ tokens: it.tokens, sequenceId: id });
    return it;
  };
  return { planner, queued };
}

test("a burst that overflows the batch starts generating together: no stream decodes one token and then waits for the others' prefill", () => {
  const { planner, queued } = plannerWithQueue({ prefillChunk: 0, maxStall: 3 });
  const handles = [0, 1, 2].map((id) => planner.enter(id));
  // Step 1: three 10-token prompts, room for 16: each keeps its last token back.
  const step1 = planner.strategy({ items: [queued(0, 10), queued(1, 10), queued(2, 10)], size: 16 });
  assert.deepEqual(step1.map((b) => b.processAmount), [9, 7]);
  // Step 2: what is left (1 + 3 + 10 tokens) fits: the whole burst finishes, and
  // sequence 0's single last token is prompt, not a decoder that would cap the others.
  const step2 = planner.strategy({ items: [queued(0, 1), queued(1, 3), queued(2, 10)], size: 16 });
  assert.deepEqual(step2.map((b) => b.processAmount), [1, 3, 10]);
  for (const h of handles) h.prefilled();
  // Step 3: all three decode together.
  assert.deepEqual(planner.strategy({ items: [queued(0, 1), queued(1, 1), queued(2, 1)], size: 16 }).map((b) => b.processAmount), [1, 1, 1]);
});

test("a prompt arriving while others decode is capped by the stall budget, and goes in whole while a cache edit waits", () => {
  let clock = 0;
  const { planner, queued } = plannerWithQueue({ prefillChunk: 0, maxStall: 3, now: () => clock });
  const first = planner.enter(0);
  planner.strategy({ items: [queued(0, 500)], size: 2048 });
  clock += 2500; // 5 ms a prompt token
  first.prefilled();
  planner.strategy({ items: [queued(0, 1)], size: 2048 });
  clock += 100; // a decode step
  const late = planner.enter(1);
  const capped = planner.strategy({ items: [queued(0, 1), queued(1, 300)], size: 2048 });
  assert.deepEqual(capped.map((b) => b.processAmount), [1, 34], "0.85 × (3 − 1) × 100 ms / 5 ms");
  clock += 270;
  // A third request waits to edit its cache: the decoder holds its token and the
  // queued prompt goes in whole, so the queue (and the lock) is free after one step.
  const edit = planner.beginCacheEdit();
  assert.deepEqual(planner.strategy({ items: [queued(1, 266)], size: 2048 }).map((b) => b.processAmount), [266]);
  edit();
  clock += 1400;
  assert.deepEqual(planner.strategy({ items: [queued(0, 1), queued(1, 1)], size: 2048 }).map((b) => b.processAmount), [1, 1]);
  late.prefilled();
  first.leave();
  first.leave();
  late.leave();
  assert.equal(planner.active, 0);
});

test("a decode starts at once when every generating sequence has queued its token, otherwise on the next turn", async () => {
  const planner = new BatchPlanner({ prefillChunk: 0, gatherMs: 0 });
  const queue: Array<{ tokens: Token[]; sequenceId: number }> = [];
  planner.attach({ _queuedDecodes: queue } as unknown as Parameters<BatchPlanner["attach"]>[0]);
  const calls: string[] = [];
  const schedule = (label: string): void => planner.dispatchSchedule(() => calls.push(label));

  // One stream on a context of several sequences: node-llama-cpp's own schedule waits a turn here.
  const first = planner.enter(0);
  queue.push({ tokens: [1 as Token], sequenceId: 0 });
  schedule("alone, queued");
  assert.deepEqual(calls, ["alone, queued"], "the only generating sequence has queued: no turn to wait");

  // Two streams, one queued: the other's token comes on a later turn.
  const second = planner.enter(1);
  schedule("one of two");
  assert.deepEqual(calls, ["alone, queued"]);
  queue.push({ tokens: [2 as Token], sequenceId: 1 });
  schedule("both queued");
  assert.deepEqual(calls, ["alone, queued", "both queued"]);

  // A waiting cache edit changes how batches go out: leave it to the next turn.
  const done = planner.beginCacheEdit();
  schedule("during an edit");
  assert.deepEqual(calls, ["alone, queued", "both queued"]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(calls, ["alone, queued", "both queued", "one of two", "during an edit"]);
  done();
  first.leave();
  second.leave();
});
