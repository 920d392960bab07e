/**
 * "Validated before it leaves": what a grammar-constrained choice must
 * satisfy, checked against the client's own schemas once the choice has
 * finished and before its finish event goes out.
 *
 * The grammar makes the output valid by construction, so a failure here is
 * a bug in a grammar (or in what we did to the text after it): the engine
 * logs it, counts it, and fails the choice with a 500 server_error, as
 * OpenAI answers an error of its own — a client never receives an output
 * that does not match its schema as a success. Outputs cut short are not
 * checked: a `length` cut stays a `length` cut, and so does a cut at one of
 * the client's own stop strings.
 */
import { ApiError } from "../../protocol/errors.js";
import type { GrammarKind } from "../engine.js";
import type { ParsedToolCall } from "./output/tool-call-parser.js";
import type { OutputSchemaChecker, PreparedSchema } from "./output-schema-checker.js";

/** A finished choice, as the client receives it. */
export interface FinishedOutput {
  content: string;
  toolCalls: readonly ParsedToolCall[];
}

export interface OutputContract {
  readonly kind: GrammarKind;
  /** Why the output breaks the contract, or null. */
  check(output: FinishedOutput): Promise<string | null>;
}

/** response_format json_schema (`schema`) or json_object (null): the content is that JSON. */
export function responseFormatContract(checker: OutputSchemaChecker, schema: PreparedSchema | null): OutputContract {
  return {
    kind: "response_format",
    async check({ content, toolCalls }) {
      if (toolCalls.length > 0) return "tool calls in a response_format answer";
      const problem = await checker.check(schema, content);
      return problem === null ? null : `the content ${problem}`;
    },
  };
}

/**
 * Tool calls made under a tool-call grammar: each names one of `schemas`' tools
 * and its arguments validate against that tool's parameters. `forced`
 * (tool_choice required or named): at least one call and no text around them;
 * otherwise (auto with strict tools) only the calls the model chose to make.
 */
export function toolCallContract(checker: OutputSchemaChecker, schemas: ReadonlyMap<string, PreparedSchema>, forced: boolean): OutputContract {
  return {
    kind: "tool_calls",
    async check({ content, toolCalls }) {
      if (forced && toolCalls.length === 0) return "no tool call";
      if (forced && content.trim() !== "") return "text outside the tool calls";
      for (const [index, call] of toolCalls.entries()) {
        const schema = schemas.get(call.name);
        if (schema === undefined) return `tool call ${index} names a tool that may not be called`;
        const problem = await checker.check(schema, call.arguments);
        if (problem !== null) return `the arguments of tool call ${index} (${call.name}) ${problem}`;
      }
      return null;
    },
  };
}

/** The client's answer when an output failed its contract: our error, not theirs. */
export function invalidConstrainedOutput(): ApiError {
  return new ApiError(500, "server_error", "The server had an error while processing your request: the generated output did not match the requested schema.", {
    code: "invalid_structured_output",
  });
}
