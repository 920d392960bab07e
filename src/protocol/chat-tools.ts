/**
 * Tool (function) definitions and tool_choice: wire schemas, and their
 * normalisation — including the legacy `functions` / `function_call` pair,
 * which becomes tools plus a flag to answer in the legacy shape.
 */
import { z } from "zod";
import { invalidRequest } from "./errors.js";
import { assertValidJsonSchema } from "./json-schema.js";

export const toolNamePattern = /^[a-zA-Z0-9_-]{1,64}$/;
export const toolName = z.string().regex(toolNamePattern, "must match ^[a-zA-Z0-9_-]{1,64}$");

const functionDefinition = z.object({
  name: toolName,
  description: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  strict: z.boolean().nullable().optional(),
});

export const toolSchema = z.object({ type: z.literal("function"), function: functionDefinition });
export const functionSchema = functionDefinition;

export const toolChoiceSchema = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
]);
export const functionCallChoiceSchema = z.union([z.enum(["none", "auto"]), z.object({ name: z.string() })]);

export interface ToolDefinition {
  name: string;
  description: string | null;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
  /** Arguments must validate against `parameters` (enforced by grammar). */
  strict: boolean;
}

export type ToolChoice = { type: "none" } | { type: "auto" } | { type: "required" } | { type: "function"; name: string };

export interface ToolSettings {
  tools: ToolDefinition[];
  choice: ToolChoice;
  /** Several calls in one turn. */
  parallel: boolean;
  /** The request used `functions`: answer with `function_call`, not `tool_calls`. */
  legacy: boolean;
}

type FunctionDefinition = z.infer<typeof functionDefinition>;

function toDefinitions(defs: readonly FunctionDefinition[], paramOf: (i: number) => string): ToolDefinition[] {
  const seen = new Set<string>();
  return defs.map((def, i) => {
    if (seen.has(def.name)) throw invalidRequest(`Duplicate tool name '${def.name}'.`, `${paramOf(i)}.name`, "invalid_value");
    seen.add(def.name);
    const parameters = def.parameters ?? { type: "object", properties: {} };
    assertValidJsonSchema(parameters, `${paramOf(i)}.parameters`, `tool '${def.name}'`);
    return { name: def.name, description: def.description ?? null, parameters, strict: def.strict === true };
  });
}

function resolveChoice(choice: ToolChoice, tools: readonly ToolDefinition[], param: string): ToolChoice {
  if (choice.type === "function" && !tools.some((t) => t.name === choice.name)) {
    throw invalidRequest(`${param} names '${choice.name}', which is not one of the tools.`, param, "invalid_value");
  }
  if ((choice.type === "function" || choice.type === "required") && tools.length === 0) {
    throw invalidRequest(`${param} '${choice.type}' needs at least one tool.`, param, "invalid_value");
  }
  return choice;
}

export interface ToolFields {
  tools?: Array<z.infer<typeof toolSchema>> | null;
  tool_choice?: z.infer<typeof toolChoiceSchema> | null;
  parallel_tool_calls?: boolean | null;
  functions?: FunctionDefinition[] | null;
  function_call?: z.infer<typeof functionCallChoiceSchema> | null;
}

export function normaliseTools(body: ToolFields): ToolSettings {
  const hasTools = body.tools != null && body.tools.length > 0;
  const hasFunctions = body.functions != null && body.functions.length > 0;
  if (hasTools && hasFunctions) throw invalidRequest("Use either tools or the legacy functions, not both.", "functions");

  if (hasFunctions) {
    const tools = toDefinitions(body.functions ?? [], (i) => `functions[${i}]`);
    const raw = body.function_call ?? "auto";
    const choice: ToolChoice = typeof raw === "string" ? { type: raw } : { type: "function", name: raw.name };
    return { tools, choice: resolveChoice(choice, tools, "function_call"), parallel: false, legacy: true };
  }
  const tools = toDefinitions(
    (body.tools ?? []).map((t) => t.function),
    (i) => `tools[${i}].function`,
  );
  const raw = body.tool_choice ?? (tools.length > 0 ? "auto" : "none");
  const choice: ToolChoice = typeof raw === "string" ? { type: raw } : { type: "function", name: raw.function.name };
  return {
    tools,
    choice: resolveChoice(choice, tools, "tool_choice"),
    parallel: body.parallel_tool_calls ?? true,
    legacy: false,
  };
}
