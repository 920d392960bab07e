/**
 * The gpt-oss (harmony) family without a server: its messages read from every
 * split of the model's text (analysis → reasoning, final → content, a message
 * to functions.NAME → a streamed call), its call grammar, and its
 * conversation (reasoning in `thinking`, calls, results, reasoning_effort)
 * rendered exactly as the template renders it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { Template } from "@huggingface/jinja";
import type { Token } from "node-llama-cpp";
import { gptOssFamily, harmonyReasoning } from "../src/engines/llama/families/gpt-oss.js";
import { HarmonyMessageReader } from "../src/engines/llama/output/harmony-messages.js";
import { createPromptRenderer } from "../src/engines/llama/prompt-renderer.js";
import { toolCallGbnf } from "../src/engines/llama/tool-call-grammar.js";
import type { ToolDefinition } from "../src/protocol/chat-request.js";
import { readFamilyOutput, templateTools, thoughtCallConversation, type FamilyOutput } from "./helpers/family-output.js";
import { fixtureTemplate, templateModelPath } from "./helpers/models.js";
import { missingSharedFile, sharedTemplatePath } from "./helpers/shared-files.js";
import { textSplits } from "./helpers/text-splits.js";
import { loadVocab } from "./helpers/tokenizer.js";

function read(pieces: readonly string[], options: { startInReasoning?: boolean; tools?: boolean } = {}): FamilyOutput {
  return readFamilyOutput(pieces, { reasoning: harmonyReasoning, syntax: options.tools === false ? null : "harmony", startInReasoning: options.startInReasoning });
}

interface Case {
  title: string;
  text: string;
  startInReasoning?: boolean;
  content: string;
  reasoning: string;
  calls: Array<{ name: string; args: unknown }>;
}

const CASES: Case[] = [
  {
    // `<|call|>` ends the generation (harmony's stop tokens for assistant actions; llama.cpp's end-of-generation set, see
    // below), so a turn holds one call and the next comes after its result. Were the model to go on past it, as some
    // servers let it, the second call is not lost: both are read.
    title: "two calls in consecutive messages, each ended by <|call|>: both are read",
    text:
      '<|channel|>analysis<|message|>Two lookups.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>' +
      '<|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{"zone": "UTC"}<|call|>',
    content: "",
    reasoning: "Two lookups.",
    calls: [
      { name: "get_weather", args: { city: "Paris" } },
      { name: "get_time", args: { zone: "UTC" } },
    ],
  },
  {
    title: "analysis, then a call in the channel-first header (<|constrain|>json)",
    text: '<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris", "days": [1, 2]}',
    content: "",
    reasoning: "Need the weather.",
    calls: [{ name: "get_weather", args: { city: "Paris", days: [1, 2] } }],
  },
  {
    title: "a call in the recipient-first header (as the template writes it), ended by <|call|>",
    text: ' to=functions.get_time<|channel|>commentary json<|message|>{"zone":"UTC"}<|call|>',
    content: "",
    reasoning: "",
    calls: [{ name: "get_time", args: { zone: "UTC" } }],
  },
  {
    title: "analysis, then the final answer",
    text: "<|channel|>analysis<|message|>User says hi.\nAnswer briefly.<|end|><|start|>assistant<|channel|>final<|message|>Hello! <|tag|> 1 < 2<|return|>",
    content: "Hello! <|tag|> 1 < 2",
    reasoning: "User says hi.\nAnswer briefly.",
    calls: [],
  },
  {
    title: "a commentary preamble is content, then a call",
    text: '<|channel|>commentary<|message|>Checking.<|end|><|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{}',
    content: "Checking.",
    reasoning: "",
    calls: [{ name: "get_time", args: {} }],
  },
  {
    title: "two analysis messages and a final one",
    text: "<|channel|>analysis<|message|>One.<|end|><|start|>assistant<|channel|>analysis<|message|> Two.<|end|><|start|>assistant<|channel|>final<|message|>Done.",
    content: "Done.",
    reasoning: "One. Two.",
    calls: [],
  },
  {
    title: "plain text where a header belongs is content",
    text: "Hello there, a plain answer.",
    content: "Hello there, a plain answer.",
    reasoning: "",
    calls: [],
  },
  {
    title: "text that starts like a recipient but is not one is content",
    text: "to be or not",
    content: "to be or not",
    reasoning: "",
    calls: [],
  },
  {
    title: "the prompt opened the analysis channel; an output cut in the thought is all reasoning",
    text: "Still thinking <|en",
    startInReasoning: true,
    content: "",
    reasoning: "Still thinking <|en",
    calls: [],
  },
  {
    title: "the prompt opened the analysis channel, the thought is closed and a call follows",
    text: 'Think.<|end|><|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{"city": "Lyon"}',
    startInReasoning: true,
    content: "",
    reasoning: "Think.",
    calls: [{ name: "get_weather", args: { city: "Lyon" } }],
  },
  {
    title: "a header cut off at the end is dropped",
    text: "<|channel|>analysis<|message|>Hm.<|end|><|start|>assistant<|channel|>fin",
    content: "",
    reasoning: "Hm.",
    calls: [],
  },
  {
    title: "a built-in tool's message (not functions.*) is content",
    text: "<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>commentary to=python<|message|>print(1)",
    content: "print(1)",
    reasoning: "x",
    calls: [],
  },
];

describe("harmony messages: splitting the text never changes the result", () => {
  for (const c of CASES) {
    test(c.title, () => {
      const whole = read([c.text], { startInReasoning: c.startInReasoning });
      assert.equal(whole.content, c.content, "content");
      assert.equal(whole.reasoning, c.reasoning, "reasoning");
      assert.deepEqual(
        whole.calls.map((call) => ({ name: call.name, args: JSON.parse(call.arguments) as unknown })),
        c.calls,
      );
      whole.calls.forEach((call, i) => assert.equal(whole.streamed[i], call.arguments, "fragments concatenate to the arguments"));
      for (const pieces of textSplits(c.text)) {
        assert.deepEqual(read(pieces, { startInReasoning: c.startInReasoning }), whole, `pieces ${JSON.stringify(pieces)}`);
      }
    });
  }

  test("without tools, the answer is still read out of its messages", () => {
    const text = "<|channel|>analysis<|message|>Hmm.<|end|><|start|>assistant<|channel|>final<|message|>Yes.";
    for (const pieces of textSplits(text)) assert.deepEqual(read(pieces, { tools: false }), { content: "Yes.", reasoning: "Hmm.", calls: [], streamed: [] });
  });

  test("inReasoning is true only inside an analysis body", () => {
    const reader = new HarmonyMessageReader();
    const states: boolean[] = [];
    for (const piece of ["<|channel|>analysis", "<|message|>", "a", "<|end|>", "<|start|>assistant<|channel|>final<|message|>", "b"]) {
      reader.push(piece);
      states.push(reader.inReasoning);
    }
    assert.deepEqual(states, [false, true, true, false, false, false]);
  });
});

const weather: ToolDefinition = {
  name: "get_weather",
  description: "Get the current weather for a city",
  parameters: { type: "object", properties: { city: { type: "string", description: "City name" } }, required: ["city"] },
  strict: true,
};

test("a forced call's grammar writes the harmony call form; after the call marker, either header order", () => {
  const forced = toolCallGbnf([weather], { onlyName: null, syntax: "harmony", parallel: true, afterMarker: false });
  assert.match(forced, /^root ::= "<\|channel\|>commentary to=functions\." tool-call-object$/m);
  assert.match(forced, /^tool-call-object ::= "get_weather" harmony-header-end \S+$/m);
  assert.match(forced, /^harmony-header-end ::= " <\|constrain\|>json<\|message\|>"$/m);
  const lazy = toolCallGbnf([weather], { onlyName: null, syntax: "harmony", parallel: true, afterMarker: true });
  assert.match(lazy, /^root ::= tool-call-object$/m);
  assert.match(lazy, /^harmony-header-end ::= \("<\|channel\|>commentary"\)\? " " \("<\|constrain\|>"\)\? "json" "<\|message\|>"$/m);
});

const { messages: conversation, templateView } = thoughtCallConversation("I should call get_weather.", "thinking", "call_1");

async function checkRendering(file: string): Promise<void> {
  const text = fs.readFileSync(file, "utf8");
  const model = await loadVocab(await templateModelPath(file));
  const renderer = createPromptRenderer(model);
  assert.equal(renderer.family, gptOssFamily);
  assert.equal(renderer.reasoning, harmonyReasoning);
  const definitions = templateTools([weather]);
  // The whole conversation, and the one that ends at the tool result (gpt-oss drops a call's thought once a final answer follows).
  for (const [effort, written, length] of [["minimal", "low", 6], ["high", "high", 4]] as const) {
    const rendered = renderer.render({ messages: conversation.slice(0, length), tools: [weather], thinking: null, reasoningEffort: effort, templateKwargs: {} });
    const direct = new Template(text).render({
      messages: templateView.slice(0, length),
      tools: definitions,
      add_generation_prompt: true,
      reasoning_effort: written,
      bos_token: "<|startoftext|>",
      eos_token: "<|return|>",
    });
    assert.equal(model.detokenize(rendered.tokens, true), direct);
    assert.ok(direct.includes(`Reasoning: ${written}`), "the effort is in the system message");
    if (length === 4) assert.ok(direct.includes("<|channel|>analysis<|message|>I should call get_weather.<|end|>"), "the thought of the call turn is written back");
    assert.ok(direct.includes("to=functions.get_weather<|channel|>commentary json<|message|>"), "the call is written back");
    assert.ok(direct.includes("<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"), "the result is written back");
    assert.equal(rendered.startsInReasoning, false);
  }
}

describe("a conversation renders exactly as the template renders it", () => {
  test("chatport's harmony-style fixture", () => checkRendering(fixtureTemplate("harmony-style")));
  const real = sharedTemplatePath("gpt-oss");
  test("the real gpt-oss template", { skip: real === null ? missingSharedFile("gpt-oss.jinja") : false }, () => checkRendering(real ?? ""));
});

test("a gpt-oss test model: <|return|> and <|call|> end the generation, <|end|> only a message; the parser's markers are decoded as text", async () => {
  const real = sharedTemplatePath("gpt-oss");
  const model = await loadVocab(await templateModelPath(real ?? fixtureTemplate("harmony-style")));
  const id = (text: string): Token => {
    const [token, ...rest] = model.tokenize(text, true);
    assert.ok(token !== undefined && rest.length === 0, `${text} is one token`);
    return token;
  };
  assert.equal(model.isEogToken(id("<|return|>")), true);
  assert.equal(model.isEogToken(id("<|call|>")), true);
  assert.equal(model.isEogToken(id("<|end|>")), false, "llama.cpp drops <|end|> from the end-of-generation tokens beside <|return|> and <|call|>");
  assert.equal(toolCallGbnf([weather], { onlyName: null, syntax: "harmony", parallel: false, afterMarker: true }).startsWith("root ::= tool-call-object"), true);
  assert.equal(gptOssFamily.toolCalls.callMarker, "to=functions.", "the lazy grammar of strict tools switches on at the recipient");
});
