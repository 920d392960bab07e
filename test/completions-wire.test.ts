/**
 * The legacy completions wire format without a server: the request parser's
 * normalisation (prompts × best_of choices, the default max_tokens, what goes
 * upstream) and the encoder's best_of choice (the candidates with the highest
 * mean logprob, per prompt) and legacy logprobs, fed the events an engine
 * yields; and an upstream's `text_completion` JSON read back into events.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ChatEvent, TokenLogprob } from "../src/protocol/chat-events.js";
import { parseCompletionsRequest } from "../src/protocol/completions-request.js";
import { CompletionsEncoder } from "../src/protocol/completions-response.js";
import { ResponseDecoder } from "../src/upstream/upstream-wire.js";
import { fakeTextCompletion } from "../src/upstream/fake-upstream.js";
import { assertMatchesSchema } from "./helpers/openapi.js";

const entry = (token: string, logprob: number): TokenLogprob => ({ token, logprob, bytes: Array.from(Buffer.from(token)), topLogprobs: [{ token, logprob, bytes: [] }] });

function encode(body: Record<string, unknown>, events: ChatEvent[], engineChose = false): ReturnType<CompletionsEncoder["body"]> {
  const request = parseCompletionsRequest({ model: "m", ...body });
  const encoder = new CompletionsEncoder(request, { request: request.chat, systemFingerprint: "fp_test" }, engineChose);
  for (const event of events) encoder.accept(event);
  const out = encoder.body();
  assertMatchesSchema("CreateCompletionResponse", out);
  return out;
}

const usage: ChatEvent = { type: "usage", usage: { promptTokens: 3, completionTokens: 9, cachedTokens: 0, reasoningTokens: 0, prefillMs: 0, decodeMs: [] } };

describe("legacy completions wire format", () => {
  test("parse: prompts × best_of choices, max_tokens 16 by default, logprobs kept for best_of, the body forwarded to /completions", () => {
    const request = parseCompletionsRequest({ model: "m", prompt: ["a", "b"], n: 2, best_of: 3, temperature: 0.5, stop: "\n" });
    assert.equal(request.chat.n, 6);
    assert.equal(request.chat.maxTokens, 16);
    assert.deepEqual(request.chat.logprobs, { top: 0 }, "best_of > n chooses by logprob");
    assert.equal(request.logprobs, null, "but answers without them");
    assert.deepEqual(request.chat.stop, ["\n"]);
    assert.equal(request.chat.sampling.temperature, 0.5);
    assert.equal(request.chat.upstreamEndpoint, "completions");
    assert.deepEqual(request.chat.rawPrompt, { prompts: ["a", "b"], suffix: null, echo: false, promptLogprobs: null });
    assert.equal(parseCompletionsRequest({ model: "m", prompt: [1, 2] }).chat.rawPrompt?.prompts.length, 1, "one token-id prompt");
    assert.equal(parseCompletionsRequest({ model: "m", prompt: [[1], [2]] }).chat.rawPrompt?.prompts.length, 2);
  });

  test("best_of: per prompt the n candidates with the highest mean logprob, indexed prompt × n + rank", () => {
    const candidate = (index: number, text: string, logprobs: number[]): ChatEvent[] => [
      { type: "delta", index, content: text, logprobs: logprobs.map((lp, i) => entry(i === 0 ? text : "", lp)) },
      { type: "finish", index, reason: "stop" },
    ];
    const events = [
      ...candidate(0, "p0-worst", [-3, -3]),
      ...candidate(1, "p0-best", [-0.1]),
      ...candidate(2, "p0-middle", [-1, -2]),
      ...candidate(3, "p1-middle", [-1]),
      ...candidate(4, "p1-worst", [-5]),
      ...candidate(5, "p1-best", [-0.5, -0.5]),
      usage,
    ];
    const body = encode({ prompt: ["a", "b"], n: 2, best_of: 3 }, events);
    assert.deepEqual(
      body.choices.map((c) => [c.index, c.text, c.logprobs]),
      [
        [0, "p0-best", null],
        [1, "p0-middle", null],
        [2, "p1-best", null],
        [3, "p1-middle", null],
      ],
    );
    // An upstream answered best_of itself: its choices are taken as they are.
    const upstream = encode({ prompt: "a", n: 1, best_of: 3 }, [...candidate(0, "chosen upstream", [-9]), usage], true);
    assert.deepEqual(
      upstream.choices.map((c) => c.text),
      ["chosen upstream"],
    );
  });

  test("logprobs: text_offset counts from the start of the choice's text, tokens accumulate across deltas", () => {
    const body = encode({ prompt: "a", logprobs: 1 }, [
      { type: "delta", index: 0, content: "Hello", logprobs: [entry("Hel", -0.5), entry("lo", -0.25)] },
      { type: "delta", index: 0, content: " world", logprobs: [entry(" world", -1)] },
      { type: "finish", index: 0, reason: "length" },
      usage,
    ]);
    assert.deepEqual(body.choices[0]?.logprobs, {
      tokens: ["Hel", "lo", " world"],
      token_logprobs: [-0.5, -0.25, -1],
      top_logprobs: [{ Hel: -0.5 }, { lo: -0.25 }, { " world": -1 }],
      text_offset: [0, 3, 5],
    });
    assert.equal(body.choices[0]?.finish_reason, "length");
  });

  test("echo with logprobs: the prompt's entries first (the first null), offsets continuing into the continuation; best_of ranks by the continuation alone", () => {
    const request = parseCompletionsRequest({ model: "m", prompt: "ab", echo: true, logprobs: 1, n: 1, best_of: 2, max_tokens: 1 });
    assert.deepEqual(request.chat.rawPrompt?.promptLogprobs, 1);
    assert.equal(request.chat.maxTokens, 1);
    assert.equal(parseCompletionsRequest({ model: "m", prompt: "ab", max_tokens: 0 }).chat.maxTokens, 0, "max_tokens 0 is OpenAI's minimum");
    assert.equal(parseCompletionsRequest({ model: "m", prompt: "ab", logprobs: 1 }).chat.rawPrompt?.promptLogprobs, null, "no echo: no prompt logprobs");
    const encoder = new CompletionsEncoder(request, { request: request.chat, systemFingerprint: "fp_test" }, false);
    const prompt = [
      { token: "a", logprob: null, topLogprobs: null },
      // A very unlikely prompt token: it must not count against candidate 0.
      { token: "b", logprob: -50, topLogprobs: [{ token: "c", logprob: -0.1, bytes: [] }] },
    ];
    const first = encoder.accept({ type: "delta", index: 0, content: "ab", promptLogprobs: prompt });
    assert.deepEqual((first[0]?.data as { choices: Array<{ logprobs: unknown }> }).choices[0]?.logprobs, {
      tokens: ["a", "b"],
      token_logprobs: [null, -50],
      top_logprobs: [null, { c: -0.1 }],
      text_offset: [0, 1],
    });
    encoder.accept({ type: "delta", index: 1, content: "ab", promptLogprobs: prompt.map((e) => ({ ...e, logprob: e.logprob === null ? null : -1 })) });
    encoder.accept({ type: "delta", index: 0, content: "x", logprobs: [entry("x", -0.5)] });
    encoder.accept({ type: "delta", index: 1, content: "y", logprobs: [entry("y", -2)] });
    encoder.accept({ type: "finish", index: 0, reason: "length" });
    encoder.accept({ type: "finish", index: 1, reason: "length" });
    encoder.accept(usage);
    const body = encoder.body();
    assert.equal(body.choices.length, 1);
    assert.equal(body.choices[0]?.text, "abx", "the better continuation, whatever its prompt's logprobs");
    assert.deepEqual(body.choices[0]?.logprobs?.text_offset, [0, 1, 2]);
    assert.deepEqual(body.choices[0]?.logprobs?.token_logprobs, [null, -50, -0.5]);

    // An upstream's echoed answer: its nulls kept, the entries in order.
    const decoder = new ResponseDecoder(1, 0, 0);
    const events: ChatEvent[] = [];
    const answer = fakeTextCompletion({ model: "m", prompt: "one two", echo: true, logprobs: 1, max_tokens: 1 });
    decoder.completion({ object: "text_completion", ...answer }, events);
    const delta = events.find((e) => e.type === "delta");
    assert.deepEqual(
      delta?.type === "delta" ? delta.promptLogprobs?.map((e) => [e.token, e.logprob]) : null,
      [
        ["one", null],
        [" two", -0.05],
        ["one", -0.1],
      ],
    );
  });

  test("an upstream's text_completion body and chunks decode into the same events", () => {
    const answer = fakeTextCompletion({ model: "m", prompt: ["one two", "three"], n: 1, max_tokens: 2, logprobs: 1 });
    const events: ChatEvent[] = [];
    const decoder = new ResponseDecoder(2, 0, 0);
    assert.ok(decoder.completion({ object: "text_completion", ...answer }, events));
    const texts = ["", ""];
    for (const event of events) if (event.type === "delta") texts[event.index] += event.content ?? "";
    assert.deepEqual(texts, ["one two", "three three"]);
    const first = events.find((e) => e.type === "delta");
    assert.equal(first?.type === "delta" ? first.logprobs?.length : 0, 2);
    assert.deepEqual(decoder.usageCounts().promptTokens, answer.usage.prompt_tokens);

    const streamed = new ResponseDecoder(1, 0, 0);
    const chunkEvents: ChatEvent[] = [];
    streamed.chunk({ object: "text_completion", choices: [{ index: 0, text: "hi", logprobs: null, finish_reason: null }] }, chunkEvents);
    streamed.chunk({ object: "text_completion", choices: [{ index: 0, text: "", logprobs: null, finish_reason: "length" }] }, chunkEvents);
    assert.deepEqual(chunkEvents, [
      { type: "delta", index: 0, content: "hi" },
      { type: "finish", index: 0, reason: "length" },
    ]);
  });
});
