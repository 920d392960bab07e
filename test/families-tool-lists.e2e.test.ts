/**
 * The families of families-tool-lists.test.ts end to end through the official
 * SDK, one server with a test model per fixture template (`make-test-model
 * --template`): the server detects the family, tool_choice required and named give valid grammar-constrained
 * calls, a streamed call reassembles to the non-streamed one, `auto` with
 * strict tools is constrained from the family's marker on, a call and its
 * result go back through the template, a thought lands in
 * reasoning_content where the family thinks, and Hunyuan's answer tag is
 * removed from the content (A13B's and 7B's: the same turns and tags, calls
 * in their own syntaxes).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type OpenAI from "openai";
import { ownFixture } from "./helpers/family-checks.js";
import { assertStreamedAsWhole, callAndResultTest, checkFamilyCall, FAMILY_ASK, FAMILY_TOOLS, familyServer, namedCallTest, OPENAI_CALL_IDS, requiredCallTest, type FamilyCases } from "./helpers/family-e2e.js";
import { loadVocab } from "./helpers/tokenizer.js";

interface FamilyModel {
  id: string;
  /** The family the server detects in the model's template. */
  family: string;
  /** The text that opens calls (biased up to make a random model start one under `auto`); null where calls can only start the answer. */
  marker: string | null;
  /** Where the family thinks: the text the model opens a thought with (biased up to make a random model open one). */
  thought: { open: string } | null;
  /** The tag the family opens its answer with, removed from the content. */
  answerOpen?: string;
}

const MODELS: FamilyModel[] = [
  { id: "hunyuan-style", family: "hunyuan", marker: "<tool_calls>", thought: { open: "<think>" }, answerOpen: "<answer>" },
  { id: "hunyuan-7b-style", family: "hunyuan-7b", marker: "<tool_calls>", thought: { open: "<think>" }, answerOpen: "<answer>" },
  { id: "jamba-style", family: "jamba", marker: "<tool_calls>", thought: null },
  { id: "xlam-style", family: "xlam", marker: null, thought: null },
  { id: "internlm2-style", family: "internlm2", marker: "<|action_start|>", thought: null },
  { id: "apertus-style", family: "apertus", marker: "<|tools_prefix|>", thought: { open: "<|inner_prefix|>" } },
];

const family = familyServer(
  MODELS.map((m) => ({ id: m.id, template: ownFixture(m.id) })),
  ["--threads", "1", "--parallel", "1", "--ctx", "4096"],
);

async function tokenOf(model: string, text: string): Promise<number> {
  const tokens = (await loadVocab(family.modelPath(model))).tokenize(text, true);
  assert.equal(tokens.length, 1, `${text} is one token`);
  return tokens[0]!;
}

for (const model of MODELS) {
  describe(`family test model ${model.id}`, () => {
    test(`the server reads the template as the ${model.family} family`, () => {
      const loaded = family.server.jsonLogs().find((l) => l.msg === "model loaded" && l.model === model.id);
      assert.equal(loaded?.family, model.family, JSON.stringify(loaded));
    });

    const cases: FamilyCases = { family, model: model.id, check: (c) => checkFamilyCall(c, OPENAI_CALL_IDS), idPattern: OPENAI_CALL_IDS, maxTokens: 200, namedMaxTokens: 100, namedFinishes: true };
    requiredCallTest(cases);
    namedCallTest(cases);
    callAndResultTest(cases, { seed: 5 });

    const marker = model.marker;
    if (marker !== null) {
      test("auto with strict tools: a call the model starts is grammar-constrained from the family's marker on", async () => {
        const res = await family.client.chat.completions.create({
          model: model.id,
          messages: FAMILY_ASK,
          tools: FAMILY_TOOLS,
          tool_choice: "auto",
          parallel_tool_calls: false,
          logit_bias: { [String(await tokenOf(model.id, marker))]: 100 },
          seed: 1,
          max_tokens: 200,
        });
        assert.equal(res.choices[0]?.finish_reason, "tool_calls", JSON.stringify(res.choices[0]?.message));
        const calls = res.choices[0]?.message.tool_calls ?? [];
        assert.equal(calls.length, 1);
        checkFamilyCall(calls[0]!, OPENAI_CALL_IDS);
      });
    }

    const answerOpen = model.answerOpen;
    if (answerOpen !== undefined) {
      test(`the answer's ${answerOpen} tag is removed from the content, thinking on or off`, async () => {
        const bias = { [String(await tokenOf(model.id, answerOpen))]: 100 };
        for (const effort of [{}, { reasoning_effort: "none" as const }]) {
          const ask = { model: model.id, messages: [{ role: "user" as const, content: "Hi." }], logit_bias: bias, seed: 2, ...effort };
          // The biased model writes the tag again and again: the first opens the answer, the next is its text.
          const one = await family.client.chat.completions.create({ ...ask, max_tokens: 1 });
          assert.equal(one.choices[0]?.message.content ?? "", "", JSON.stringify(effort));
          const two = await family.client.chat.completions.create({ ...ask, max_tokens: 2 });
          assert.equal(two.choices[0]?.message.content, answerOpen, JSON.stringify(effort));
        }
      });
    }

    const thought = model.thought;
    if (thought !== null) {
      test("a thought lands in reasoning_content, streamed as non-streamed", async () => {
        // A random model opens a thought only when pushed to: its open tag biased up (the tags after the first are the thought's text).
        const logit_bias = { [String(await tokenOf(model.id, thought.open))]: 100 };
        const body = { model: model.id, messages: [{ role: "user" as const, content: "Think." }], seed: 11, max_tokens: 12, ignore_eos: true, logit_bias } as OpenAI.ChatCompletionCreateParamsNonStreaming;
        const whole = await family.client.chat.completions.create(body);
        const message = whole.choices[0]?.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
        assert.ok(typeof message.reasoning_content === "string" && message.reasoning_content !== "", JSON.stringify(message));
        assert.ok((whole.usage?.completion_tokens_details?.reasoning_tokens ?? 0) > 0);
        await assertStreamedAsWhole(family.client, body as OpenAI.ChatCompletionCreateParamsNonStreaming, message);
      });
    }
  });
}
