/**
 * Functionary v3.1 and v3.2 and Llama 4's `<|python_start|>`-tagged calls end
 * to end through the official SDK, one server with a test model per fixture
 * template (`make-test-model --template`): for Functionary tool_choice
 * required (streamed as non-streamed) and named give valid calls
 * (`<function=NAME>{…}</function>`, `>>>NAME\n{…}`), and the call and its
 * result go back through the template; a model pushed to open a call under
 * `auto` with strict tools (`<function=`, `<|python_start|>`) is constrained
 * from there, and its call is read the same streamed and not; v3.2 answers
 * without tools as text, streamed as non-streamed.
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
  /** The text that opens a call, one token in the test model (biased up under `auto`); null: calls start the answer. */
  marker: string | null;
  /** The family's own cases (required, named, call and result); Llama 4's bare list is tested in pythonic-families.e2e. */
  ownCases: boolean;
}

const MODELS: FamilyModel[] = [
  { id: "functionary-v3.1-style", marker: "<function=", ownCases: true },
  { id: "functionary-v3.2-style", marker: null, ownCases: true },
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

    const opener = model.marker;
    if (opener === null) return;
    test(`auto with strict tools: a call the model opens with ${opener} is constrained from there, streamed as non-streamed`, async () => {
      const marker = (await loadVocab(family.modelPath(model.id))).tokenize(opener, true);
      assert.equal(marker.length, 1, `${opener} is one token`);
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
      assert.ok(!(choice.message.content ?? "").includes(opener), `content ${choice.message.content}`);

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

describe("Functionary v3.2 without tools", () => {
  for (const [title, extra] of [
    ["no tools offered", {}],
    ["tools offered with tool_choice none", { tools: FAMILY_TOOLS, tool_choice: "none" as const }],
  ] as const) {
    test(`${title}: the prompt names the plain recipient, the answer is text, streamed as non-streamed`, async () => {
      const body = { model: "functionary-v3.2-style", messages: FAMILY_ASK, ...extra, seed: 11, max_tokens: 12 };
      const whole = await family.client.chat.completions.create(body);
      const choice = whole.choices[0];
      assert.ok(choice !== undefined && ["stop", "length"].includes(choice.finish_reason), JSON.stringify(choice));
      assert.equal(choice.message.tool_calls, undefined);
      let content = "";
      for await (const chunk of await family.client.chat.completions.create({ ...body, stream: true })) {
        assert.equal(chunk.choices[0]?.delta.tool_calls, undefined);
        content += chunk.choices[0]?.delta.content ?? "";
      }
      assert.equal(content, choice.message.content ?? "");
    });
  }
  test("the prompt without tools is the prompt with them less the tools, plus the plain recipient's line", async () => {
    const plain = await family.client.chat.completions.create({ model: "functionary-v3.2-style", messages: FAMILY_ASK, seed: 1, max_tokens: 1 });
    const vocab = await loadVocab(family.modelPath("functionary-v3.2-style"));
    // The fixture writes "(none)\n" where tools would be listed; the generation prompt then ends in ">>>all\n".
    const expected = vocab.tokenize("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou can call functions when they help.\nWrite each message as\n>>>RECIPIENT\nCONTENT\nwith RECIPIENT all for text to the user, or a function name followed by its arguments as JSON.\nFunctions:\n(none)\n<|eot_id|><|start_header_id|>system<|end_header_id|>\n\nYou answer with tools.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWeather in Paris for 3 days?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n>>>all\n", true);
    assert.equal(plain.usage?.prompt_tokens, expected.length);
  });
});
