/**
 * What chatport knows about one model family: how to recognise it in a GGUF,
 * how its models write tool calls (and how a grammar forces one), how they
 * mark reasoning, and which special tokens a test model of the family needs.
 * Each family is one file in this folder; `registry.ts` lists them.
 *
 * Pure data and small pure functions: the shared streaming parser
 * (`output/tool-call-parser.ts`), the reasoning splitter and the grammar
 * wrapper read a family's declarations, so no marker is spelled twice.
 */

import type { ReasoningEffort, ToolDefinition } from "../../../protocol/chat-request.js";
import type { JsonSchemaGrammar } from "../json-schema/schema-compiler.js";
import type { ParsedToolCall, ToolCallParserOptions, ToolCallPiece } from "../output/tool-call-parser.js";

/** A parser of one shape: text in, content and call deltas out (`output/tool-call-parser.ts` hands over to it). */
export interface ToolCallShapeParser {
  push(text: string): ToolCallPiece;
  finish(): ToolCallPiece;
  readonly calls: readonly ParsedToolCall[];
}

/** What detection can see of a GGUF. */
export interface GgufFacts {
  /** `tokenizer.chat_template` ("" when there is none). */
  template: string;
  /** `general.architecture`. */
  architecture: string;
  /** Whether the vocabulary has this text as one token. */
  hasToken: (text: string) => boolean;
}

/**
 * Calls wrapped in an open and a close tag, each holding one JSON object
 * `{"name": …, "arguments": {…}}`, repeated; text before the first call is
 * content (Hermes, Qwen).
 */
export interface TaggedJsonCalls {
  kind: "tagged-json";
  open: string;
  close: string;
}

/**
 * One marker, then a JSON list of call objects, or (where the family has an
 * args tag) `name[ARGS]{…}` with an optional `[CALL_ID]id` before the
 * arguments, which is skipped; repeated (Mistral, Granite 3).
 */
export interface MarkerListCalls {
  kind: "marker-list";
  marker: string;
  /** Null: only the JSON-list form. */
  nameForm: { argsTag: string; callIdTag: string } | null;
  /** Text that closes the list (Nemotron's `</TOOLCALL>`), dropped where it follows the list. */
  close?: string;
  /** Each call object is `{"NAME": {arguments}}`, the name as its one key (Apertus), instead of `{"name": …, "arguments": …}`. */
  nameKeyed?: boolean;
}

/**
 * Calls only at the very start of the output, after an optional prefix tag:
 * JSON objects `{"name": …, "parameters": {…}}` separated by `separator`;
 * otherwise the whole output is content (Llama 3.x).
 */
export interface LeadingJsonCalls {
  kind: "leading-json";
  prefix: string;
  separator: string;
  /** The calls may also come as one JSON list `[{…}, …]` (xLAM). */
  list?: boolean;
  /** Text that closes what `prefix` opened (xLAM's `` ``` `` fence), dropped after the calls. */
  close?: string;
}

/**
 * A shape whose parser states live in a file of their own under `output/`
 * (`delimited-call-shape.ts`: DeepSeek, Kimi K2): the family hands over its
 * parser and the marker texts that parser reads.
 */
export interface OwnParserCalls {
  kind: "own-parser";
  /** The texts the parser reads, which must reach it even where they are special tokens. */
  markers: readonly string[];
  createParser(options: ToolCallParserOptions): ToolCallShapeParser;
}

export type ToolCallShape = TaggedJsonCalls | MarkerListCalls | LeadingJsonCalls | OwnParserCalls | PythonicCalls;

/** The tool-call syntaxes of the registry's families (a new syntax adds its name here). */
export type ToolCallSyntaxName = "hermes" | "mistral" | "llama3-json" | "granite" | "phi4-mini"
  | "harmony"
  | "mistral-args"
  | "command-r7b"
  | "hunyuan" | "hunyuan-7b" | "jamba" | "xlam" | "internlm2" | "apertus"
  | "nemotron-v2"
  | "deepseek-r1"
  | "deepseek-v3"
  | "deepseek-v3.2"
  | "kimi-k2"
  | "qwen3-coder"
  | "glm"
  | "pythonic"
  | "lfm2"
  | "gemma4"
  | "seed-oss"
  | "minimax-m2"
  | "firefunction-v2"
  | "llama4-pythonic"
  | "functionary-v3.1"
  | "functionary-v3.2";

/**
 * Pythonic calls: `[name(key=value, …), …]` with Python literals as values
 * (`output/pythonic-call-shape.ts`), between an open and a close marker
 * anywhere in the output (LFM2), or with no markers as the whole output
 * (Llama 3.2 / 4 pythonic templates).
 */
export interface PythonicCalls {
  kind: "pythonic";
  /** Null: the list must be the whole output (after whitespace). */
  open: string | null;
  /** Null: nothing follows the list. */
  close: string | null;
  /**
   * Optional tags around a list without `open` (Llama 4's
   * `<|python_start|>…<|python_end|>`, which vLLM's llama4_pythonic parser
   * accepts with or without): the list is read at the start of the output
   * bare, or after the open tag anywhere; the close tag may be left out.
   */
  wrap?: { open: string; close: string };
}


export interface ToolCallSyntaxDefinition {
  /** The name parsers and grammars are asked for. */
  name: ToolCallSyntaxName;
  shape: ToolCallShape;
  /** The key of a call object's arguments in a grammar-forced call (parsers accept `arguments` and `parameters`). */
  argumentsKey: "arguments" | "parameters";
  /** The text that opens a call anywhere in the output, for a grammar switched on lazily; null where calls can only start the output. */
  callMarker: string | null;
  /**
   * GBNF rules for the whole output (`afterMarker` false), or for what follows
   * `callMarker` once the model wrote it; `objectRule` names the rule of one
   * call object, `root` must be defined.
   */
  grammarRules(objectRule: string, options: { parallel: boolean; afterMarker: boolean }): string;
  /**
   * The GBNF of one call of the tool `name` whose arguments are `argumentsRule`,
   * for syntaxes that write the name outside a JSON object (DeepSeek, Kimi K2,
   * gpt-oss's message header, Mistral's `name[ARGS]`, Command-R7B's action);
   * `objectRule` is then one such call. Default: `{"name": …, "<argumentsKey>": …}`.
   */
  callRule?(name: string, argumentsRule: string): string;
  /**
   * The rule (or inline expression) of a tool's arguments, for syntaxes that
   * do not write them as one JSON value (XML parameters); default: the
   * compiled JSON Schema of `parameters`.
   */
  argumentsRule?(grammar: JsonSchemaGrammar, parameters: unknown, param: string): string;
  /**
   * Syntaxes whose calls are not JSON call objects: the rule `objectRule`
   * (one call of any allowed tool, arguments matching its schema) and the
   * rules it uses. Default: `{"name": …, "<argumentsKey>": …}`.
   */
  callRules?(tools: ReadonlyArray<{ tool: ToolDefinition; index: number }>, objectRule: string): string;
}

/** How a family marks a thought, and the template variable that switches it. */
export interface ReasoningFormat {
  open: string;
  close: string;
  /** The chat-template variable that turns thinking off when false (null: none). */
  switchVariable: string | null;
  /**
   * How the thought is read: `tags` (default) — open…close at the start of
   * the output (`output/reasoning-splitter.ts`); `harmony` — the whole output
   * is harmony messages, the analysis channel is the thought, and the reader
   * runs whether the model thinks or not (`output/harmony-messages.ts`).
   */
  reader?: "tags" | "harmony";
  /**
   * A switch written into the conversation instead of a template variable
   * (Nemotron Nano 2: `/think`, `/no_think`): added to the last user message,
   * where the template reads and removes it.
   */
  switchText?: { on: string; off: string };
  /** Tags around the answer (Granite 3.3's `<response>`, Hunyuan's `<answer>`), removed from the content whether or not the model thought. */
  answer?: { open: string; close: string };
}

/**
 * How `reasoning_effort` maps onto a family's thinking (`reasoning-effort.ts`
 * applies it; families without one get its default: off only at `none`,
 * budgets 64 / 512 / 2048 / uncapped).
 */
export interface ReasoningEffortMap {
  /** Efforts that switch thinking off (the template's switch set false; a thought is closed at once). */
  off: readonly ReasoningEffort[];
  /** Thinking-token budget per effort (null: uncapped); efforts left out keep the default's. */
  budgets: Readonly<Partial<Record<ReasoningEffort, number | null>>>;
}

/** Special tokens a test model of this family needs (the template's control strings). */
export interface FamilyTokens {
  /** Every control string the template writes or the model emits, each one token. */
  special: readonly string[];
  bos: string;
  eos: string;
  /** End of turn (defaults to eos). */
  eot?: string;
  /** The tokenizer puts bos in front of a prompt (false where the template writes it, or the family has none). */
  addBos: boolean;
}

export interface ModelFamily {
  name: string;
  /** What the family covers, for logs and docs. */
  description: string;
  detect(facts: GgufFacts): boolean;
  toolCalls: ToolCallSyntaxDefinition;
  reasoning: ReasoningFormat | null;
  /** The length of the tool-call ids the family's templates accept; null for OpenAI's `call_…`. */
  callIdLength: number | null;
  /**
   * Where the template reads the tool definitions: the `tools` variable (most),
   * or a JSON string in the system message's `tools` field (Phi-4-mini).
   * Default `variable`.
   */
  toolDefinitions?: "variable" | "system-message-field"
    // The `tools` variable as JSON strings, for a template that writes each with `| string` (SmolLM3).
    | "json-strings"
    // A JSON text of the definitions in a `functions` variable, and the time in `datetime` unless a kwarg gives it (FireFunction v2).
    | "functions-json";
  /** The message field the template reads an assistant turn's reasoning from (default `reasoning_content`; gpt-oss and LFM2.5-8B-A1B: `thinking`). */
  historyReasoningField?: string;
  /** The template reads an assistant turn's reasoning as a `{type: "thinking", thinking}` content block before its text (Ministral 3). */
  historyReasoningBlock?: boolean;
  /** The template's `reasoning_effort` value for each of the request's (default: the request's own). */
  reasoningEffortValues?: Readonly<Record<ReasoningEffort, string>>;
  /** More texts the output readers read, beyond the call and reasoning markers (special tokens made visible to them). */
  outputMarkers?: readonly string[];
  /**
   * How an assistant turn's calls reach the template: arguments as objects
   * with `content` as given (default), or the OpenAI wire shape — arguments
   * as their JSON text, `content` null when empty (DeepSeek R1 / V3.1 join
   * the arguments as text, and R1's distills write calls only when `content` is null).
   */
  templateToolCalls?: "objects" | "openai-wire";
  /** How to ask for a call in the system message when the template does not describe tools (default: Hermes style). */
  toolInstructions?: string;
  /**
   * How tool calls and results reach a template that knows no tools:
   * `template` (default) passes them as they are; `as-text` writes them into
   * the turns as text (`tool-free-history.ts`).
   */
  toolHistory?: "template" | "as-text";
  /** False where the template has no system role (Gemma 2): the system text opens the first user turn. Default true. */
  systemRole?: boolean;
  /**
   * Text that completes the generation prompt when no tools are offered,
   * where the template's prompt ends in `after` (Functionary v3.2: `all\n`
   * after `>>>`, the recipient of text to the user), so that the answer is
   * content from its first token, as it is with no call parser to read it.
   */
  promptWithoutTools?: { after: string; append: string };
  /** How `reasoning_effort` maps onto its thinking; default: `reasoning-effort.ts`'s table. */
  reasoningEffort?: ReasoningEffortMap;
  /**
   * For templates that never write `tool_calls` back (LFM2, LFM2.5, SmolLM3):
   * an assistant turn's content with its calls written in, in the family's
   * syntax, so the model sees what it called.
   */
  callsInContent?(content: string, calls: ReadonlyArray<{ name: string; arguments: string }>): string;
  tokens: FamilyTokens;
}

/** A GBNF string literal for `text`. */
export function gbnfLiteral(text: string): string {
  return JSON.stringify(text);
}
