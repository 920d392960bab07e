/**
 * POST /v1/completions (legacy completions) end to end through the official
 * `openai` SDK (`client.completions.create`) against a real server process
 * with local models: raw prompts (no chat template) as text, arrays, token
 * ids; echo; legacy logprobs; n and best_of; streaming with include_usage;
 * suffix refused without FIM tokens and built into the FIM layout with them;
 * usage, one ledger row per request and a key's limits; a real base model
 * (stories260K, from ../shared) continuing "Once upon a time" as
 * node-llama-cpp driven directly continues it. The prompt's own logprobs
 * (echo with logprobs, max_tokens 0 or more): the values node-llama-cpp
 * gives when the prompt is evaluated prefix by prefix, the first token null,
 * offsets continuous through prompt and continuation, per prompt and choice,
 * streamed in the first chunk.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import OpenAI from "openai";
import { fimModelPath, tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { createKey as createManagedKey, postJson, startServer, type RunningServer } from "./helpers/server.js";
import { missingSharedFile, storiesModelPath } from "./helpers/shared-files.js";
import { countTokens, loadVocab } from "./helpers/tokenizer.js";

const adminKey = "sk-admin-completions-tests";
const stories = storiesModelPath();
let server: RunningServer;
let client: OpenAI;
let keyId: string;
let tinyPath: string;
let fimPath: string;

interface UsageWire {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
}

async function usageOf(key: string): Promise<UsageWire> {
  const res = await fetch(server.baseURL.replace("/v1", `/admin/usage?key=${key}`), { headers: { authorization: `Bearer ${adminKey}` } });
  const body = (await res.json()) as { data: UsageWire[] };
  return body.data[0] ?? { requests: 0, prompt_tokens: 0, completion_tokens: 0 };
}

before(async () => {
  tinyPath = await tinyModelPath();
  fimPath = await fimModelPath();
  const models: Record<string, string> = { tiny: tinyPath, fim: fimPath };
  if (stories !== null) models.stories = stories;
  server = await startServer({ models, args: ["--threads", "1", "--parallel", "4", "--ctx", "1024"], adminKey });
  const key = await createManagedKey(server, adminKey, { name: "completions" });
  keyId = key.id;
  client = new OpenAI({ baseURL: server.baseURL, apiKey: key.secret, maxRetries: 0, timeout: 120_000 });
});
after(async () => server?.stop());

/**
 * Greedy and seeded: the same prompt always continues the same way. Without
 * the seed, a prompt evaluated on top of a cached prefix or beside other
 * sequences gets logits that differ in the last bits (llama.cpp sums batches
 * of different shapes in different orders), which can flip a near tie on
 * another CPU; a seeded request is evaluated whole, in a step of its own.
 */
const greedy = { temperature: 0, max_tokens: 6, seed: 11 } as const;

/** Legacy logprobs with an echoed prompt: its first token's entries are null. */
interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

/** Offsets are continuous (each token starts where the one before ends) and index `text`: the tokens are its pieces. */
function assertOffsetsIndex(logprobs: LegacyLogprobs, text: string): void {
  assert.equal(logprobs.tokens.join(""), text);
  let offset = 0;
  logprobs.tokens.forEach((token, i) => {
    assert.equal(logprobs.text_offset[i], offset, `offset of token ${i}`);
    assert.equal(text.slice(offset, offset + token.length), token);
    offset += token.length;
  });
}

function assertCompletion(body: unknown): asserts body is OpenAI.Completions.Completion {
  assertMatchesSchema("CreateCompletionResponse", body);
}

/**
 * A body with an echoed prompt's logprobs: OpenAI's document types every
 * entry as a number (its API answers null for the first token too), so the
 * schemas see the body without the first tokens' nulls (the tests check those).
 */
function assertEchoedCompletion(body: OpenAI.Completions.Completion): void {
  const choices = body.choices.map((c) => {
    const lp = c.logprobs as LegacyLogprobs | null;
    if (lp === null || lp.token_logprobs[0] !== null) return c;
    return { ...c, logprobs: { tokens: lp.tokens.slice(1), token_logprobs: lp.token_logprobs.slice(1), top_logprobs: lp.top_logprobs.slice(1), text_offset: lp.text_offset.slice(1) } };
  });
  assertCompletion({ ...body, choices });
}

describe("POST /v1/completions on a local model", () => {
  test("a base model continues 'Once upon a time' greedily as node-llama-cpp does on the same file", { skip: stories === null ? missingSharedFile("models/stories260K.gguf") : false }, async () => {
    const file = stories as string;
    const maxTokens = 24;
    const res = await client.completions.create({ model: "stories", prompt: "Once upon a time", temperature: 0, max_tokens: maxTokens, seed: 11 });
    assertCompletion(res);

    // The reference: the raw prompt (BOS where the model wants one), greedy, decoded after the prompt.
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: file });
    const context = await model.createContext({ contextSize: 256, threads: 1 });
    try {
      const prompt = model.tokenize("Once upon a time", true);
      const bos = model.tokens.bos;
      if (bos !== null && model.tokens.shouldPrependBosToken) prompt.unshift(bos);
      const generated: Token[] = [];
      let finish = "length";
      for await (const token of context.getSequence().evaluate(prompt, { temperature: 0 })) {
        if (model.isEogToken(token)) {
          finish = "stop";
          break;
        }
        generated.push(token);
        if (generated.length >= maxTokens) break;
      }
      const expected = model.detokenize(generated, false, prompt);
      assert.ok(expected.length > 0);
      assert.equal(res.choices[0]?.text, expected);
      assert.equal(res.choices[0]?.finish_reason, finish);
      assert.equal(res.usage?.prompt_tokens, prompt.length);
    } finally {
      await context.dispose();
      await model.dispose();
    }
  });

  test(
    "echo + logprobs + max_tokens 0 on a real model: the prompt's logprobs and alternatives as node-llama-cpp gives them prefix by prefix",
    { skip: stories === null ? missingSharedFile("models/stories260K.gguf") : false },
    async () => {
      const file = stories as string;
      const text = "Once upon a time, there was a little girl named Lily.";
      const before = await usageOf(keyId);
      const res = await client.completions.create({ model: "stories", prompt: text, echo: true, logprobs: 3, max_tokens: 0 });
      assertEchoedCompletion(res);
      const choice = res.choices[0];
      assert.equal(choice?.text, text, "the prompt alone");
      assert.equal(choice?.finish_reason, "length");
      assert.equal(res.usage?.completion_tokens, 0);
      const after = await usageOf(keyId);
      assert.equal(after.prompt_tokens - before.prompt_tokens, res.usage?.prompt_tokens);
      assert.equal(after.completion_tokens - before.completion_tokens, 0);
      const logprobs = choice?.logprobs as LegacyLogprobs;
      assertOffsetsIndex(logprobs, text);

      // The reference: each prefix evaluated on its own, the raw distribution of the next token (greedy sampler: no truncation).
      const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
      const model = await llama.loadModel({ modelPath: file });
      const context = await model.createContext({ contextSize: 256, threads: 1 });
      try {
        const prompt = model.tokenize(text, true);
        const bos = model.tokens.bos;
        if (bos !== null && model.tokens.shouldPrependBosToken) prompt.unshift(bos);
        assert.equal(res.usage?.prompt_tokens, prompt.length);
        assert.equal(logprobs.tokens.length, prompt.length);
        assert.equal(logprobs.token_logprobs[0], null);
        assert.equal(logprobs.top_logprobs[0], null);
        const sequence = context.getSequence();
        for (let i = 1; i < prompt.length; i++) {
          await sequence.clearHistory();
          const iterator = sequence.evaluateWithMetadata(prompt.slice(0, i), { probabilities: true }, { temperature: 0 });
          const first = await iterator.next();
          await iterator.return();
          assert.ok(!first.done);
          const probabilities = first.value.probabilities;
          const expected = Math.log(probabilities.get(prompt[i] as Token) ?? 0);
          const got = logprobs.token_logprobs[i];
          assert.ok(typeof got === "number" && Math.abs(got - expected) < 1e-3, `token ${i}: ${got} vs ${expected}`);
          const top = [...probabilities.values()].slice(0, 3).map(Math.log);
          const gotTop = Object.values(logprobs.top_logprobs[i] ?? {}).sort((a, b) => b - a);
          assert.equal(gotTop.length, 3, JSON.stringify(logprobs.top_logprobs[i]));
          gotTop.forEach((lp, j) => assert.ok(Math.abs(lp - (top[j] ?? 0)) < 1e-3, `top ${j} of token ${i}: ${lp} vs ${top[j]}`));
        }
      } finally {
        await context.dispose();
        await model.dispose();
      }

      // With a continuation: the same prompt logprobs, then the generated tokens', offsets continuing through both.
      const plain = await client.completions.create({ model: "stories", prompt: text, temperature: 0, max_tokens: 6, seed: 11 });
      const more = await client.completions.create({ model: "stories", prompt: text, echo: true, logprobs: 3, temperature: 0, max_tokens: 6, seed: 11 });
      const continued = more.choices[0];
      assert.equal(continued?.text, text + (plain.choices[0]?.text ?? ""));
      const all = continued?.logprobs as LegacyLogprobs;
      assert.equal(all.tokens.length, logprobs.tokens.length + (more.usage?.completion_tokens ?? 0) - (continued?.finish_reason === "stop" ? 1 : 0));
      all.token_logprobs.slice(0, logprobs.tokens.length).forEach((lp, i) => {
        const own = logprobs.token_logprobs[i];
        assert.ok(lp === own || (typeof lp === "number" && typeof own === "number" && Math.abs(lp - own) < 1e-3), `token ${i}: ${lp} vs ${own}`);
      });
      assertOffsetsIndex(all, continued?.text ?? "");
    },
  );

  test("echo + logprobs on the generated model: first token null, offsets continuous, token-id prompts one entry per id, prompt arrays × n, best_of", async () => {
    const vocab = await loadVocab(tinyPath);
    const res = await client.completions.create({ model: "tiny", prompt: "score every word here", echo: true, logprobs: 2, max_tokens: 0 });
    assertEchoedCompletion(res);
    const choice = res.choices[0];
    assert.equal(choice?.text, "score every word here");
    assert.equal(choice?.finish_reason, "length");
    assert.equal(res.usage?.completion_tokens, 0);
    const logprobs = choice?.logprobs as LegacyLogprobs;
    assert.equal(logprobs.tokens.length, res.usage?.prompt_tokens);
    assert.equal(logprobs.token_logprobs[0], null, "nothing precedes the first token");
    assert.equal(logprobs.top_logprobs[0], null);
    for (let i = 1; i < logprobs.tokens.length; i++) {
      const lp = logprobs.token_logprobs[i];
      assert.ok(typeof lp === "number" && lp <= 0, String(lp));
      const top = logprobs.top_logprobs[i] ?? {};
      assert.ok(Object.keys(top).length >= 1 && Object.keys(top).length <= 2, JSON.stringify(top));
      assert.ok(Math.max(...Object.values(top)) >= lp - 1e-6, "no alternative is less likely than the top ones");
    }
    assertOffsetsIndex(logprobs, "score every word here");

    // lm-eval's shape: token ids in, one entry per id out.
    const ids = vocab.tokenize("score every word here", false).map(Number);
    const byIds = await client.completions.create({ model: "tiny", prompt: ids, echo: true, logprobs: 0, max_tokens: 0 });
    const idLogprobs = byIds.choices[0]?.logprobs as LegacyLogprobs;
    assert.equal(idLogprobs.tokens.length, ids.length);
    assert.equal(idLogprobs.token_logprobs[0], null);
    assert.equal(byIds.usage?.prompt_tokens, ids.length);

    // Several prompts × n: each choice its own prompt's logprobs, the same for every choice of a prompt; then its continuation.
    const prompts = ["one two three", "four five"];
    const batch = await client.completions.create({ model: "tiny", prompt: prompts, n: 2, echo: true, logprobs: 1, temperature: 0, max_tokens: 3, ignore_eos: true } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    assert.equal(batch.choices.length, 4);
    assert.equal(batch.usage?.completion_tokens, 4 * 3);
    for (const c of batch.choices) {
      const prompt = prompts[Math.floor(c.index / 2)] as string;
      assert.ok(c.text.startsWith(prompt), c.text);
      const own = c.logprobs as LegacyLogprobs;
      const alone = await client.completions.create({ model: "tiny", prompt, echo: true, logprobs: 1, max_tokens: 0 });
      const promptOnly = alone.choices[0]?.logprobs as LegacyLogprobs;
      assert.equal(own.tokens.length, promptOnly.tokens.length + 3);
      assert.deepEqual(own.tokens.slice(0, promptOnly.tokens.length), promptOnly.tokens);
      own.token_logprobs.slice(0, promptOnly.tokens.length).forEach((lp, i) => {
        const ref = promptOnly.token_logprobs[i];
        assert.ok(lp === ref || (typeof lp === "number" && typeof ref === "number" && Math.abs(lp - ref) < 1e-3), `${lp} vs ${ref}`);
      });
      assertOffsetsIndex(own, c.text);
    }

    // best_of chooses by the continuation's logprobs; the echoed prompt's come first all the same.
    const best = await client.completions.create({ model: "tiny", prompt: "pick one", n: 1, best_of: 2, echo: true, logprobs: 1, temperature: 1, seed: 3, max_tokens: 2, ignore_eos: true } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    const bestLogprobs = best.choices[0]?.logprobs as LegacyLogprobs;
    assert.equal(bestLogprobs.token_logprobs[0], null);
    assert.equal(bestLogprobs.tokens.length, (best.usage?.prompt_tokens ?? 0) + 2);
    assertOffsetsIndex(bestLogprobs, best.choices[0]?.text ?? "");
  });

  test("a scored prompt beside other streams and after its own prefix was cached: the same logprobs as scored alone", async () => {
    const text = "the quick brown fox jumps over the lazy dog";
    const scored = { model: "tiny", prompt: text, echo: true, logprobs: 2, max_tokens: 0 } as const;
    const alone = (await client.completions.create(scored)).choices[0]?.logprobs as LegacyLogprobs;
    // Its prompt cached on a sequence by a plain request, and three others generating while it is scored.
    await client.completions.create({ model: "tiny", prompt: text, max_tokens: 1 });
    const busy = ["one", "two", "three"].map((prompt) => client.completions.create({ model: "tiny", prompt, max_tokens: 24, ignore_eos: true, temperature: 0 } as OpenAI.Completions.CompletionCreateParamsNonStreaming));
    const beside = (await client.completions.create(scored)).choices[0]?.logprobs as LegacyLogprobs;
    await Promise.all(busy);
    assert.deepEqual(beside.tokens, alone.tokens);
    assert.equal(beside.token_logprobs[0], null);
    beside.token_logprobs.forEach((lp, i) => {
      const ref = alone.token_logprobs[i];
      assert.ok(lp === ref || (typeof lp === "number" && typeof ref === "number" && Math.abs(lp - ref) < 1e-3), `token ${i}: ${lp} vs ${ref}`);
    });
  });

  test("max_tokens 0: echo answers the prompt alone, without echo an empty text; finish length, no completion tokens billed", async () => {
    const before = await usageOf(keyId);
    const echoed = await client.completions.create({ model: "tiny", prompt: "nothing more", echo: true, max_tokens: 0 });
    assertCompletion(echoed);
    assert.equal(echoed.choices[0]?.text, "nothing more");
    assert.equal(echoed.choices[0]?.finish_reason, "length");
    assert.equal(echoed.choices[0]?.logprobs, null);
    const bare = await client.completions.create({ model: "tiny", prompt: "nothing more", max_tokens: 0 });
    assert.equal(bare.choices[0]?.text, "");
    assert.equal(bare.choices[0]?.finish_reason, "length");
    assert.equal(bare.usage?.completion_tokens, 0);
    assert.equal(bare.usage?.prompt_tokens, echoed.usage?.prompt_tokens);
    const after = await usageOf(keyId);
    assert.equal(after.requests, before.requests + 2);
    assert.equal(after.completion_tokens, before.completion_tokens);
    assert.equal(after.prompt_tokens - before.prompt_tokens, 2 * (bare.usage?.prompt_tokens ?? 0));
  });

  test("streamed echo + logprobs: each choice's first chunk carries its prompt and the prompt's logprobs", async () => {
    const whole = await client.completions.create({ model: "tiny", prompt: ["first prompt", "second"], echo: true, logprobs: 1, ...greedy });
    const stream = await client.completions.create({ model: "tiny", prompt: ["first prompt", "second"], echo: true, logprobs: 1, ...greedy, stream: true });
    const seen: Array<OpenAI.Completions.CompletionChoice[]> = [[], []];
    for await (const chunk of stream) for (const c of chunk.choices) seen[c.index]?.push(c);
    seen.forEach((chunks, index) => {
      const reference = whole.choices[index];
      const prompt = ["first prompt", "second"][index] as string;
      const first = chunks[0];
      assert.equal(first?.text, prompt);
      const firstLogprobs = first?.logprobs as LegacyLogprobs;
      assert.equal(firstLogprobs.token_logprobs[0], null);
      assert.equal(firstLogprobs.tokens.join(""), prompt);
      // The chunks together: the body's text and logprobs.
      assert.equal(chunks.map((c) => c.text).join(""), reference?.text);
      const joined = chunks.flatMap((c) => c.logprobs?.tokens ?? []);
      assert.deepEqual(joined, reference?.logprobs?.tokens);
      assert.deepEqual(
        chunks.flatMap((c) => c.logprobs?.text_offset ?? []),
        reference?.logprobs?.text_offset,
      );
    });
  });

  test("a text_completion body: cmpl- id, default max_tokens 16, usage, one ledger row with the same tokens", async () => {
    const before = await usageOf(keyId);
    const res = await client.completions.create({ model: "tiny", prompt: "alpha beta gamma", temperature: 0, logit_bias: {} });
    assertCompletion(res);
    assert.match(res.id, /^cmpl-[0-9a-f]{32}$/);
    assert.equal(res.object, "text_completion");
    assert.equal(res.model, "tiny");
    assert.equal(res.choices.length, 1);
    const usage = res.usage as OpenAI.Completions.CompletionUsage;
    assert.ok(usage.completion_tokens >= 1 && usage.completion_tokens <= 16, "OpenAI's default of 16 tokens");
    if (res.choices[0]?.finish_reason === "length") assert.equal(usage.completion_tokens, 16);
    // No chat template: the prompt is its own tokens only.
    assert.equal(usage.prompt_tokens, countTokens(await loadVocab(tinyPath), "alpha beta gamma"));
    const after = await usageOf(keyId);
    assert.equal(after.requests, before.requests + 1);
    assert.equal(after.prompt_tokens - before.prompt_tokens, usage.prompt_tokens);
    assert.equal(after.completion_tokens - before.completion_tokens, usage.completion_tokens);
  });

  test("several prompts (text and token ids) × n: choices indexed prompt × n + i, each answering its own prompt; one ledger row", async () => {
    const vocab = await loadVocab(tinyPath);
    const single = await Promise.all(["one two", "three four five"].map((prompt) => client.completions.create({ model: "tiny", prompt, ...greedy })));
    const before = await usageOf(keyId);
    const res = await client.completions.create({ model: "tiny", prompt: ["one two", "three four five"], n: 2, ...greedy });
    assertCompletion(res);
    assert.deepEqual(
      res.choices.map((c) => c.index),
      [0, 1, 2, 3],
    );
    assert.deepEqual(
      res.choices.map((c) => c.text),
      [single[0]?.choices[0]?.text, single[0]?.choices[0]?.text, single[1]?.choices[0]?.text, single[1]?.choices[0]?.text],
    );
    assert.equal(res.usage?.prompt_tokens, countTokens(vocab, "one two") + countTokens(vocab, "three four five"), "each prompt counted once");
    assert.equal(res.usage?.completion_tokens, 2 * ((single[0]?.usage?.completion_tokens ?? 0) + (single[1]?.usage?.completion_tokens ?? 0)));
    const after = await usageOf(keyId);
    assert.equal(after.requests, before.requests + 1, "one ledger row for the whole request");

    // The same prompts as token ids: the same answers.
    const ids = ["one two", "three four five"].map((text) => vocab.tokenize(text, true).map(Number));
    const byIds = await client.completions.create({ model: "tiny", prompt: ids, ...greedy });
    assert.deepEqual(
      byIds.choices.map((c) => c.text),
      [single[0]?.choices[0]?.text, single[1]?.choices[0]?.text],
    );
    const oneIds = await client.completions.create({ model: "tiny", prompt: ids[0] ?? [], ...greedy });
    assert.equal(oneIds.choices.length, 1);
    assert.equal(oneIds.choices[0]?.text, single[0]?.choices[0]?.text);
  });

  test("echo: the prompt, then its continuation (token-id prompts echoed as their text)", async () => {
    const plain = await client.completions.create({ model: "tiny", prompt: "echo me please", ...greedy });
    const echoed = await client.completions.create({ model: "tiny", prompt: "echo me please", echo: true, ...greedy });
    assertCompletion(echoed);
    assert.equal(echoed.choices[0]?.text, `echo me please${plain.choices[0]?.text ?? ""}`);
    assert.equal(echoed.usage?.completion_tokens, plain.usage?.completion_tokens, "the echo is not billed as completion");
    const vocab = await loadVocab(tinyPath);
    const byIds = await client.completions.create({ model: "tiny", prompt: vocab.tokenize("echo me please", true).map(Number), echo: true, ...greedy });
    assert.equal(byIds.choices[0]?.text, echoed.choices[0]?.text);
  });

  test("logprobs: the legacy shape — tokens, token_logprobs, top_logprobs dicts, text_offset", async () => {
    const res = await client.completions.create({ model: "tiny", prompt: "count with me", logprobs: 3, temperature: 0, max_tokens: 8, ignore_eos: true } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    assertCompletion(res);
    const choice = res.choices[0];
    const logprobs = choice?.logprobs;
    assert.ok(logprobs?.tokens && logprobs.token_logprobs && logprobs.top_logprobs && logprobs.text_offset, JSON.stringify(logprobs));
    assert.equal(logprobs.tokens.length, 8);
    assert.equal(res.usage?.completion_tokens, 8);
    assert.equal(logprobs.tokens.join(""), choice?.text);
    let offset = 0;
    logprobs.tokens.forEach((token, i) => {
      assert.equal(logprobs.text_offset?.[i], offset);
      offset += token.length;
      const lp = logprobs.token_logprobs?.[i] ?? 1;
      assert.ok(lp <= 0, String(lp));
      const top = logprobs.top_logprobs?.[i] ?? {};
      assert.ok(Object.keys(top).length >= 1 && Object.keys(top).length <= 3, JSON.stringify(top));
      // Greedy: the chosen token is the most likely one.
      assert.ok(token in top, `${token} among ${JSON.stringify(top)}`);
    });
    const without = await client.completions.create({ model: "tiny", prompt: "count with me", temperature: 0, max_tokens: 2 });
    assert.equal(without.choices[0]?.logprobs, null);
  });

  test("n with best_of: n choices of best_of candidates, every candidate billed; best_of < n and streamed best_of are refused", async () => {
    const res = await client.completions.create({ model: "tiny", prompt: "pick the best", n: 2, best_of: 3, temperature: 1, seed: 7, max_tokens: 4, ignore_eos: true } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    assertCompletion(res);
    assert.deepEqual(
      res.choices.map((c) => c.index),
      [0, 1],
    );
    assert.equal(res.choices[0]?.logprobs, null, "logprobs only when asked, though best_of needs them");
    assert.equal(res.usage?.completion_tokens, 3 * 4, "all three candidates were generated");
    await assert.rejects(client.completions.create({ model: "tiny", prompt: "x", n: 3, best_of: 2 }), (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === "best_of");
    await assert.rejects(
      client.completions.create({ model: "tiny", prompt: "x", n: 1, best_of: 2, stream: true }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === "best_of",
    );
  });

  test("stream with include_usage: text_completion chunks, the same text as without streaming, a usage chunk, [DONE]", async () => {
    const whole = await client.completions.create({ model: "tiny", prompt: ["stream this", "and that"], echo: true, ...greedy });
    const stream = await client.completions.create({ model: "tiny", prompt: ["stream this", "and that"], echo: true, ...greedy, stream: true, stream_options: { include_usage: true } });
    const texts = ["", ""];
    const finishes: Array<string | null> = [null, null];
    let usage: OpenAI.Completions.CompletionUsage | null | undefined = null;
    const ids = new Set<string>();
    for await (const chunk of stream) {
      ids.add(chunk.id);
      assert.equal(chunk.object, "text_completion");
      // OpenAI's document gives chunks the body's shape: a finished chunk (its `usage: null` left out) must match it.
      if (chunk.choices.every((c) => c.finish_reason !== null)) assertCompletion(chunk.usage === null ? { ...chunk, usage: undefined } : chunk);
      for (const choice of chunk.choices) {
        texts[choice.index] += choice.text;
        if (choice.finish_reason !== null) finishes[choice.index] = choice.finish_reason;
      }
      if (chunk.usage) {
        assert.equal(chunk.choices.length, 0, "the usage chunk has no choices");
        usage = chunk.usage;
      }
    }
    assert.equal(ids.size, 1);
    assert.match([...ids][0] ?? "", /^cmpl-/);
    assert.deepEqual(
      texts,
      whole.choices.map((c) => c.text),
    );
    assert.deepEqual(
      finishes,
      whole.choices.map((c) => c.finish_reason),
    );
    assert.deepEqual(usage && { p: usage.prompt_tokens, c: usage.completion_tokens }, { p: whole.usage?.prompt_tokens, c: whole.usage?.completion_tokens });

    const raw = await postJson(server.baseURL, "/completions", { model: "tiny", prompt: "x", max_tokens: 2, stream: true }, { authorization: `Bearer ${client.apiKey}` });
    const text = await raw.text();
    assert.ok(text.trimEnd().endsWith("data: [DONE]"), text);
    assert.ok(!text.includes('"usage":{'), "no usage chunk unless asked");
  });

  test("suffix: a 400 on a model without FIM tokens; with them, the FIM prompt (prefix, suffix, middle tokens around the texts)", async () => {
    await assert.rejects(
      client.completions.create({ model: "tiny", prompt: "def add(a, b):", suffix: "    return c" }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === "suffix",
    );
    const vocab = await loadVocab(fimPath);
    const res = await client.completions.create({ model: "fim", prompt: "def add(a, b):", suffix: "    return c", ...greedy });
    assertCompletion(res);
    assert.equal(res.usage?.prompt_tokens, 3 + countTokens(vocab, "def add(a, b):") + countTokens(vocab, "    return c"));
    // The same layout given as token ids: the same continuation.
    const fim = (text: string): number => vocab.tokenize(text, true)[0] as number;
    const layout = [fim("<|fim_prefix|>"), ...vocab.tokenize("def add(a, b):", true), fim("<|fim_suffix|>"), ...vocab.tokenize("    return c", true), fim("<|fim_middle|>")].map(Number);
    const byIds = await client.completions.create({ model: "fim", prompt: layout, ...greedy });
    assert.equal(byIds.choices[0]?.text, res.choices[0]?.text);
    assert.equal(byIds.usage?.prompt_tokens, res.usage?.prompt_tokens);
  });

  test("bad input: 400s in OpenAI's shape naming the field", async () => {
    const auth = { authorization: `Bearer ${client.apiKey}` };
    const cases: Array<[unknown, string]> = [
      [{ model: "tiny" }, "prompt"],
      [{ model: "tiny", prompt: [] }, "prompt"],
      [{ model: "tiny", prompt: [1, -2] }, "prompt[1]"],
      [{ model: "tiny", prompt: [999999] }, "prompt"],
      [{ model: "tiny", prompt: ["a", [1, 2]] }, "prompt"],
      [{ model: "tiny", prompt: [[1], [1, 999999]] }, "prompt[1]"],
      [{ model: "tiny", prompt: "x", logprobs: 6 }, "logprobs"],
      [{ model: "tiny", prompt: "x", echo: true, suffix: "y" }, "suffix"],
      [{ model: "tiny", prompt: "x", best_of: 21 }, "best_of"],
      [{ model: "tiny", prompt: "x", temperature: 3 }, "temperature"],
      [{ model: "tiny", prompt: "x", max_tokens: -1 }, "max_tokens"],
      [{ model: "tiny", prompt: "x", stream_options: { include_usage: true } }, "stream_options"],
      [{ model: "tiny", prompt: Array.from({ length: 1100 }, () => 100) }, "prompt"],
    ];
    for (const [body, param] of cases) {
      const res = await postJson(server.baseURL, "/completions", body, auth);
      const text = await res.text();
      assert.equal(res.status, 400, text);
      const parsed = JSON.parse(text) as { error: { param: string | null; code: string | null } };
      assertMatchesSchema("ErrorResponse", parsed);
      assert.equal(parsed.error.param, param, text);
    }
    await assert.rejects(client.completions.create({ model: "nope", prompt: "x" }), (err: unknown) => err instanceof OpenAI.NotFoundError);
  });

  test("a key's models and limits apply as for chat", async () => {
    const limited = await createManagedKey(server, adminKey, { name: "only-fim", models: ["fim"], rpm: 1 });
    const other = new OpenAI({ baseURL: server.baseURL, apiKey: limited.secret, maxRetries: 0 });
    await assert.rejects(other.completions.create({ model: "tiny", prompt: "x", max_tokens: 1 }), (err: unknown) => err instanceof OpenAI.PermissionDeniedError);
    await other.completions.create({ model: "fim", prompt: "x", max_tokens: 1 });
    await assert.rejects(other.completions.create({ model: "fim", prompt: "x", max_tokens: 1 }), (err: unknown) => err instanceof OpenAI.RateLimitError);
  });
});
