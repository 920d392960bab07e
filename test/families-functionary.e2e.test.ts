/**
 * Functionary v3.1 and Llama 4's `<|python_start|>`-tagged calls end to end
 * through the official SDK, one server with a test model per fixture
 * template (`make-test-model --template`): for Functionary v3.1 tool_choice
 * required (streamed as non-streamed) and named give valid
 * `<function=NAME>{…}</function>` calls, and the call and its result go back
 * through the template; for both, a model pushed to open a call under `auto`
 * with strict tools (`<function=`, `<|python_start|>`) is constrained from
 * there, and its call is read the same streamed and not.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type OpenAI from "openai";
import { ownFixture } from "./helpers/family-checks.js";
import {
  callAndResultTest,
  checkFamilyCall,
  FAMILY_ASK,
  FAMILY_TOOLS,
  familyServer,
  namedCallTest,
  OPENAI_CALL_IDS,
  requiredCallTest,
  streamedToolCalls,
  type StreamDelta,
} from "./helpers/family-e2e.js";
import { loadVocab } from "./helpers/tokenizer.js";

interface FamilyModel {
  id: string;
  /** The text that opens a call, one token in the test model (biased up under `auto`). */
  marker: string;
  /** The family's own cases (required, named, call and result); Llama 4's bare list is tested in pythonic-families.e2e. */
  ownCases: boolean;
}

const MODELS: FamilyModel[] = [
  { id: "functionary-v3.1-style", marker: "<function=", ownCases: true },
  { id: "llama4-pythonic-style", marker: "<|python_start|>", ownCases: false },
];

const family = familyServer(
  MODELS.map((m) => ({ id: m.id, template: ownFixture(m.id) })),
  ["--threads", "1", "--parallel", "1", "--ctx", "4096"],
);

const check = (c: OpenAI.ChatCompletionMessageToolCall): ReturnType<typeof checkFamilyCall> => checkFamilyCall(c, OPENAI_CALL_IDS);

/** No marker of the call syntax leaks into content. */
const noMarkers = (delta: StreamDelta): void => {
  for (const marker of ["<function=", "</function>", "<|python_start|>", "<|python_end|>", "<|python_tag|>"]) assert.ok(!(delta.content ?? "").includes(marker), `content ${delta.content}`);
};

for (const model of MODELS) {
  describe(`family test model ${model.id}`, () => {
    if (model.ownCases) {
      const cases = { family, model: model.id, check, idPattern: OPENAI_CALL_IDS, maxTokens: 200, namedMaxTokens: 100, onDelta: noMarkers, namedFinishes: true };
      requiredCallTest(cases);
      namedCallTest(cases);
      callAndResultTest(cases, { seed: 9 });
    }

    test(`auto with strict tools: a call the model opens with ${model.marker} is constrained from there, streamed as non-streamed`, async () => {
      const marker = (await loadVocab(family.modelPath(model.id))).tokenize(model.marker, true);
      assert.equal(marker.length, 1, `${model.marker} is one token`);
      const body = {
        model: model.id,
        messages: FAMILY_ASK,
        tools: FAMILY_TOOLS,
        tool_choice: "auto" as const,
        parallel_tool_calls: false,
        logit_bias: { [String(marker[0])]: 100 },
        seed: 1,
        max_tokens: 200,
      };
      const whole = await family.client.chat.completions.create(body);
      const choice = whole.choices[0];
      assert.equal(choice?.finish_reason, "tool_calls", JSON.stringify(choice?.message));
      const calls = (choice.message.tool_calls ?? []).map(check);
      assert.equal(calls.length, 1);
      assert.ok(!(choice.message.content ?? "").includes(model.marker), `content ${choice.message.content}`);

      const streamed = await streamedToolCalls(await family.client.chat.completions.create({ ...body, stream: true }), noMarkers);
      assert.equal(streamed.finish, "tool_calls");
      assert.deepEqual(
        streamed.calls.map((c) => ({ name: c.name, args: JSON.parse(c.args) as unknown })),
        calls,
        "the streamed call reassembles to the non-streamed one",
      );
    });
  });
}
