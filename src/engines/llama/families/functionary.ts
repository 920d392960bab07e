/**
 * Functionary v3.1 (MeetKai, on Llama 3.1 turns): calls in Meta's Llama 3.1
 * custom-tool form, `<function=NAME>{…}</function>`, repeated, after
 * optional text; code for the `python` tool after `<|python_tag|>` (the rest
 * of the answer, read as the arguments `{"code": …}`, as llama.cpp does).
 * Its template describes the tools itself, writes a history call's arguments
 * as their JSON text (the OpenAI wire shape), ends a call turn with
 * `<|eom_id|>` and writes results in the `ipython` role. No reasoning.
 *
 * Functionary v3.2 (its own prompt format on Llama 3 turns): each message
 * after `>>>` names its recipient on a line of its own, `>>>NAME\n{…}` a
 * call, `>>>all\ntext` text to the user, several in a row
 * (`output/recipient-call-shape.ts`). The generation prompt ends in `>>>`, so
 * the answer starts with its recipient; with no tools offered the prompt goes
 * on with `all\n` (`promptWithoutTools`) and the answer is plain text. Its
 * template writes history calls `>>>NAME\n` + the arguments' JSON text, and
 * results as `tool` turns.
 */
import { FunctionTagCallParser, type FunctionTagCallSyntax } from "../output/function-tag-call-shape.js";
import { RecipientCallParser, type RecipientCallSyntax } from "../output/recipient-call-shape.js";
import { gbnfLiteral, type ModelFamily, type ToolCallSyntaxDefinition } from "./model-family.js";

const PYTHON_TAG = "<|python_tag|>";

const v31Syntax: FunctionTagCallSyntax = {
  open: "<function=",
  nameEnd: ">",
  close: "</function>",
  code: { marker: PYTHON_TAG, tool: "python" },
};

export const functionaryV31ToolCalls: ToolCallSyntaxDefinition = {
  name: "functionary-v3.1",
  shape: { kind: "own-parser", markers: [v31Syntax.open, PYTHON_TAG], createParser: (options) => new FunctionTagCallParser(v31Syntax, options) },
  argumentsKey: "arguments",
  callMarker: v31Syntax.open,
  // A forced call: `<function=` before each call; after the marker the model wrote, the first call goes on from its name.
  grammarRules: (objectRule, { parallel, afterMarker }) => {
    const open = gbnfLiteral(v31Syntax.open);
    return `root ::= ${afterMarker ? "" : `${open} `}${objectRule}${parallel ? ` (${open} ${objectRule})*` : ""}`;
  },
  callRule: (name, argumentsRule) => `${gbnfLiteral(name + v31Syntax.nameEnd)} ${argumentsRule} ${gbnfLiteral(v31Syntax.close)}`,
};

export const functionaryV31Family: ModelFamily = {
  name: "functionary-v3.1",
  description: "Functionary v3.1: <function=NAME>{…}</function> calls and <|python_tag|> code in Llama 3.1 turns",
  // `<parameter=` is Qwen3-Coder's XML, which also spells `<function=`; Functionary's turns are Llama 3's.
  detect: ({ template }) => template.includes(v31Syntax.open) && template.includes("<|start_header_id|>") && !template.includes("<parameter="),
  toolCalls: functionaryV31ToolCalls,
  reasoning: null,
  callIdLength: null,
  templateToolCalls: "openai-wire",
  tokens: {
    // `<function=` is text in the real vocabulary; one token in a test model, so a test can bias a random model towards a call.
    special: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", PYTHON_TAG, v31Syntax.open],
    bos: "<|begin_of_text|>",
    eos: "<|eot_id|>",
    addBos: true,
  },
};

const v32Syntax: RecipientCallSyntax = { marker: ">>>", plain: "all", codeTool: "python" };

export const functionaryV32ToolCalls: ToolCallSyntaxDefinition = {
  name: "functionary-v3.2",
  shape: { kind: "own-parser", markers: [v32Syntax.marker], createParser: (options) => new RecipientCallParser(v32Syntax, options) },
  argumentsKey: "arguments",
  // The first call has no marker of its own (the prompt wrote it), so there is none to switch a grammar on at.
  callMarker: null,
  // A forced call: right after the prompt's `>>>`, a tool as the recipient; more calls each after `>>>` again.
  grammarRules: (objectRule, { parallel }) => `root ::= ${objectRule}${parallel ? ` (${gbnfLiteral(v32Syntax.marker)} ${objectRule})*` : ""}`,
  callRule: (name, argumentsRule) => `${gbnfLiteral(`${name}\n`)} ${argumentsRule}`,
};

export const functionaryV32Family: ModelFamily = {
  name: "functionary-v3.2",
  description: "Functionary v3.2: >>>NAME\\n{…} calls and >>>all\\ntext in Llama 3 turns, the prompt ending in >>>",
  detect: ({ template }) => template.includes(`${v32Syntax.marker}${v32Syntax.plain}`) && template.includes("<|start_header_id|>"),
  toolCalls: functionaryV32ToolCalls,
  reasoning: null,
  callIdLength: null,
  templateToolCalls: "openai-wire",
  promptWithoutTools: { after: v32Syntax.marker, append: `${v32Syntax.plain}\n` },
  tokens: {
    special: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    bos: "<|begin_of_text|>",
    eos: "<|eot_id|>",
    addBos: true,
  },
};
