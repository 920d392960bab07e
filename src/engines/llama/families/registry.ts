/**
 * Every model family chatport knows, in detection order: the first whose
 * `detect` accepts a GGUF is its family (`fallback` accepts all). Adding a
 * family is one file in this folder and one line here.
 */
import { apertusFamily } from "./apertus.js";
import { commandR7bFamily } from "./command-r7b.js";
import { deepseekR1Family, deepseekV32Family, deepseekV3Family } from "./deepseek.js";
import { fallbackFamily } from "./fallback.js";
import { fireFunctionV2Family } from "./firefunction-v2.js";
import { functionaryV31Family, functionaryV32Family } from "./functionary.js";
import { gemma4Family, gemmaFamily } from "./gemma.js";
import { glmFamily } from "./glm.js";
import { gptOssFamily } from "./gpt-oss.js";
import { granite3Family, granite4Family } from "./granite.js";
import { hermesFamily } from "./hermes.js";
import { hunyuan7bFamily, hunyuanFamily } from "./hunyuan.js";
import { internlm2Family } from "./internlm2.js";
import { jambaFamily } from "./jamba.js";
import { kimiK2Family } from "./kimi-k2.js";
import { lfm2Family } from "./lfm2.js";
import { llama4PythonicFamily, llamaPythonicFamily } from "./llama-pythonic.js";
import { llama3Family } from "./llama3.js";
import { mistralArgsFamily } from "./mistral-args.js";
import { minimaxM2Family } from "./minimax-m2.js";
import { mistralFamily } from "./mistral.js";
import type { GgufFacts, ModelFamily, ReasoningFormat, ToolCallSyntaxDefinition, ToolCallSyntaxName } from "./model-family.js";
import { nemotronV2Family } from "./nemotron-v2.js";
import { phi3Family } from "./phi3.js";
import { phi4MiniFamily } from "./phi4-mini.js";
import { qwen3CoderFamily } from "./qwen3-coder.js";
import { qwen3Family } from "./qwen3.js";
import { seedOssFamily } from "./seed-oss.js";
import { smollm2Family } from "./smollm2.js";
import { smollm3Family } from "./smollm3.js";
import { xlamFamily } from "./xlam.js";

export const MODEL_FAMILIES: readonly ModelFamily[] = [
  gptOssFamily,
  commandR7bFamily,
  hunyuan7bFamily, // before hunyuan: the same turns and <tool_calls>, plus its own <tool_call>
  hunyuanFamily,
  jambaFamily,
  xlamFamily, // before llama3 and the ChatML families: its templates use their turns
  internlm2Family,
  apertusFamily,
  nemotronV2Family,
  mistralArgsFamily, // before mistral: its templates also spell [TOOL_CALLS]
  mistralFamily,
  llama4PythonicFamily,
  fireFunctionV2Family, // before llama3: the same header tokens, functools[…] calls
  llamaPythonicFamily, // before llama3: the same header tokens, pythonic calls
  functionaryV31Family, // before llama3: the same header tokens, <|python_tag|> and ipython; <function=NAME> calls
  functionaryV32Family, // before llama3: the same header tokens; >>>NAME recipients
  llama3Family,
  lfm2Family,
  granite3Family,
  granite4Family, // before hermes: its template also spells <tool_call>
  phi4MiniFamily,
  deepseekR1Family,
  deepseekV3Family,
  deepseekV32Family,
  kimiK2Family,
  seedOssFamily, // before qwen3-coder: its template also spells <function= and <parameter=
  minimaxM2Family,
  qwen3CoderFamily, // before qwen3 and hermes: its templates also spell <tool_call>
  glmFamily, // before qwen3 and hermes: its templates also spell <tool_call>
  smollm3Family, // before qwen3: its template also spells <tool_call>, <think> and enable_thinking
  phi3Family, // after phi4-mini: the same turns without its tool tokens
  gemmaFamily,
  gemma4Family,
  smollm2Family,
  qwen3Family,
  hermesFamily,
  fallbackFamily, // last: accepts every template
];

export function detectFamily(facts: GgufFacts): ModelFamily {
  const family = MODEL_FAMILIES.find((f) => f.detect(facts));
  if (family === undefined) throw new Error("unreachable: the fallback family accepts every model");
  return family;
}

/** The definition of a tool-call syntax by name. */
export function toolCallSyntax(name: ToolCallSyntaxName): ToolCallSyntaxDefinition {
  const found = MODEL_FAMILIES.find((f) => f.toolCalls.name === name)?.toolCalls;
  if (found === undefined) throw new Error(`no family writes tool calls in syntax ${name}`);
  return found;
}

/**
 * The family's reasoning format where this template uses it (mentions its
 * open tag or its switch); null for a model that does not reason.
 */
export function reasoningOf(family: ModelFamily, template: string): ReasoningFormat | null {
  const format = family.reasoning;
  if (format === null) return null;
  const used = template.includes(format.open) || (format.switchVariable !== null && template.includes(format.switchVariable)) || template.includes(format.close);
  return used ? format : null;
}

/** The texts the output parsers read, which must reach them even where they are special tokens. */
export function parserMarkers(family: ModelFamily, reasoning: ReasoningFormat | null): string[] {
  const shape = family.toolCalls.shape;
  const tools =
    shape.kind === "tagged-json" ? [shape.open, shape.close] : shape.kind === "marker-list"
        ? [shape.marker, ...(shape.nameForm === null ? [] : [shape.nameForm.argsTag, shape.nameForm.callIdTag])]
        : shape.kind === "own-parser" ? [...shape.markers]
        : shape.kind === "pythonic" ? [shape.open, shape.close, shape.wrap?.open, shape.wrap?.close].filter((m): m is string => m != null)
        : [shape.prefix];
  return [...tools, ...(reasoning === null ? [] : [reasoning.open, reasoning.close]), ...(family.outputMarkers ?? [])];
}
