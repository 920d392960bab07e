/**
 * The project's own JSON Schemas of what the server sends: chat completion
 * bodies and stream chunks, errors, model lists. Every test validates against
 * these, with nothing beside the checkout. They require at least what the
 * official OpenAI OpenAPI document requires of the same shapes (ids, objects,
 * choices, finish reasons, usage counts, the error envelope's four fields),
 * and they leave room for extensions (MindIE's `full_text`, `prefill_time`,
 * `reasoning_content`) as the official document does.
 */

type JsonSchema = Record<string, unknown>;

const nullable = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: "null" }] });
const count: JsonSchema = { type: "integer", minimum: 0 };
const finishReason: JsonSchema = { enum: ["stop", "length", "tool_calls", "content_filter", "function_call"] };

const topLogprob: JsonSchema = {
  type: "object",
  required: ["token", "logprob", "bytes"],
  properties: { token: { type: "string" }, logprob: { type: "number" }, bytes: nullable({ type: "array", items: { type: "integer", minimum: 0, maximum: 255 } }) },
};

const logprobs: JsonSchema = nullable({
  type: "object",
  required: ["content"],
  properties: {
    content: nullable({
      type: "array",
      items: { ...topLogprob, required: ["token", "logprob", "bytes", "top_logprobs"], properties: { ...(topLogprob.properties as JsonSchema), top_logprobs: { type: "array", items: topLogprob } } },
    }),
    refusal: nullable({ type: "array" }),
  },
});

const usage: JsonSchema = {
  type: "object",
  required: ["prompt_tokens", "completion_tokens", "total_tokens"],
  properties: {
    prompt_tokens: count,
    completion_tokens: count,
    total_tokens: count,
    prompt_tokens_details: { type: "object", properties: { cached_tokens: count, audio_tokens: count } },
    completion_tokens_details: {
      type: "object",
      properties: { reasoning_tokens: count, audio_tokens: count, accepted_prediction_tokens: count, rejected_prediction_tokens: count },
    },
  },
};

const functionCall: JsonSchema = {
  type: "object",
  required: ["name", "arguments"],
  properties: { name: { type: "string" }, arguments: { type: "string" } },
};

const toolCall: JsonSchema = {
  type: "object",
  required: ["id", "type", "function"],
  properties: { id: { type: "string" }, type: { const: "function" }, function: functionCall },
};

const toolCallChunk: JsonSchema = {
  type: "object",
  required: ["index"],
  properties: {
    index: count,
    id: { type: "string" },
    type: { const: "function" },
    function: { type: "object", properties: { name: { type: "string" }, arguments: { type: "string" } } },
  },
};

const completionEnvelope = (object: string): JsonSchema => ({
  id: { type: "string", minLength: 1 },
  object: { const: object },
  created: count,
  model: { type: "string", minLength: 1 },
  system_fingerprint: nullable({ type: "string" }),
  service_tier: nullable({ type: "string" }),
});

const CreateChatCompletionResponse: JsonSchema = {
  type: "object",
  required: ["id", "object", "created", "model", "choices"],
  properties: {
    ...completionEnvelope("chat.completion"),
    choices: {
      type: "array",
      items: {
        type: "object",
        required: ["index", "message", "finish_reason", "logprobs"],
        properties: {
          index: count,
          finish_reason: finishReason,
          logprobs,
          message: {
            type: "object",
            required: ["role", "content", "refusal"],
            properties: {
              role: { const: "assistant" },
              content: nullable({ type: "string" }),
              refusal: nullable({ type: "string" }),
              reasoning_content: { type: "string" },
              tool_calls: { type: "array", items: toolCall },
              function_call: functionCall,
            },
          },
        },
      },
    },
    usage,
  },
};

const CreateChatCompletionStreamResponse: JsonSchema = {
  type: "object",
  required: ["id", "object", "created", "model", "choices"],
  properties: {
    ...completionEnvelope("chat.completion.chunk"),
    choices: {
      type: "array",
      items: {
        type: "object",
        required: ["index", "delta", "finish_reason"],
        properties: {
          index: count,
          finish_reason: nullable(finishReason),
          logprobs,
          delta: {
            type: "object",
            properties: {
              role: { enum: ["assistant", "developer", "system", "user", "tool"] },
              content: nullable({ type: "string" }),
              refusal: nullable({ type: "string" }),
              reasoning_content: { type: "string" },
              tool_calls: { type: "array", items: toolCallChunk },
              function_call: { type: "object", properties: { name: { type: "string" }, arguments: { type: "string" } } },
            },
          },
        },
      },
    },
    usage: nullable(usage),
  },
};

const ErrorResponse: JsonSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["message", "type", "param", "code"],
      properties: {
        message: { type: "string", minLength: 1 },
        type: { type: "string", minLength: 1 },
        param: nullable({ type: "string" }),
        code: nullable({ type: "string" }),
      },
    },
  },
};

const Model: JsonSchema = {
  type: "object",
  required: ["id", "object", "created", "owned_by"],
  properties: { id: { type: "string", minLength: 1 }, object: { const: "model" }, created: count, owned_by: { type: "string" } },
};

const ListModelsResponse: JsonSchema = {
  type: "object",
  required: ["object", "data"],
  properties: { object: { const: "list" }, data: { type: "array", items: Model } },
};

const outputText: JsonSchema = {
  type: "object",
  required: ["type", "text", "annotations"],
  properties: { type: { const: "output_text" }, text: { type: "string" }, annotations: { type: "array" }, logprobs: { type: "array" } },
};

const outputItem: JsonSchema = {
  anyOf: [
    {
      type: "object",
      required: ["type", "id", "status", "role", "content"],
      properties: {
        type: { const: "message" },
        id: { type: "string", pattern: "^msg_" },
        status: { enum: ["in_progress", "completed", "incomplete"] },
        role: { const: "assistant" },
        content: { type: "array", items: outputText },
      },
    },
    {
      type: "object",
      required: ["type", "id", "call_id", "name", "arguments"],
      properties: {
        type: { const: "function_call" },
        id: { type: "string", pattern: "^fc_" },
        call_id: { type: "string", minLength: 1 },
        name: { type: "string", minLength: 1 },
        arguments: { type: "string" },
        status: { enum: ["in_progress", "completed", "incomplete"] },
      },
    },
    {
      type: "object",
      required: ["type", "id", "summary"],
      properties: {
        type: { const: "reasoning" },
        id: { type: "string", pattern: "^rs_" },
        summary: { type: "array" },
        content: { type: "array", items: { type: "object", required: ["type", "text"], properties: { type: { const: "reasoning_text" }, text: { type: "string" } } } },
        status: { enum: ["in_progress", "completed", "incomplete"] },
      },
    },
  ],
};

const responseUsage: JsonSchema = {
  type: "object",
  required: ["input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens"],
  properties: {
    input_tokens: count,
    input_tokens_details: { type: "object", required: ["cached_tokens"], properties: { cached_tokens: count } },
    output_tokens: count,
    output_tokens_details: { type: "object", required: ["reasoning_tokens"], properties: { reasoning_tokens: count } },
    total_tokens: count,
  },
};

const Response: JsonSchema = {
  type: "object",
  required: ["id", "object", "created_at", "status", "error", "incomplete_details", "model", "output", "metadata", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p", "instructions"],
  properties: {
    id: { type: "string", pattern: "^resp_" },
    object: { const: "response" },
    created_at: count,
    status: { enum: ["in_progress", "completed", "incomplete", "failed"] },
    error: nullable({ type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" } } }),
    incomplete_details: nullable({ type: "object", required: ["reason"], properties: { reason: { enum: ["max_output_tokens", "content_filter"] } } }),
    model: { type: "string", minLength: 1 },
    output: { type: "array", items: outputItem },
    usage: responseUsage,
    user: { type: "string" },
    metadata: { type: "object", additionalProperties: { type: "string" } },
    tools: { type: "array" },
    tool_choice: { anyOf: [{ type: "string" }, { type: "object" }] },
    parallel_tool_calls: { type: "boolean" },
    temperature: nullable({ type: "number" }),
    top_p: nullable({ type: "number" }),
    instructions: nullable({ type: "string" }),
  },
};

const seq: JsonSchema = { type: "integer", minimum: 0 };
const itemRef = { item_id: { type: "string", minLength: 1 }, output_index: count, content_index: count };
const event = (type: string, required: string[], properties: Record<string, JsonSchema>): JsonSchema => ({
  type: "object",
  required: ["type", "sequence_number", ...required],
  properties: { type: { const: type }, sequence_number: seq, ...properties },
});

const ResponseStreamEvent: JsonSchema = {
  anyOf: [
    ...["response.created", "response.in_progress", "response.completed", "response.incomplete", "response.failed"].map((type) => event(type, ["response"], { response: Response })),
    event("response.output_item.added", ["output_index", "item"], { output_index: count, item: outputItem }),
    event("response.output_item.done", ["output_index", "item"], { output_index: count, item: outputItem }),
    event("response.content_part.added", ["item_id", "output_index", "content_index", "part"], { ...itemRef, part: { type: "object", required: ["type"], properties: { type: { enum: ["output_text", "reasoning_text"] } } } }),
    event("response.content_part.done", ["item_id", "output_index", "content_index", "part"], { ...itemRef, part: { type: "object", required: ["type"], properties: { type: { enum: ["output_text", "reasoning_text"] } } } }),
    event("response.output_text.delta", ["item_id", "output_index", "content_index", "delta"], { ...itemRef, delta: { type: "string" }, logprobs: { type: "array" } }),
    event("response.output_text.done", ["item_id", "output_index", "content_index", "text"], { ...itemRef, text: { type: "string" }, logprobs: { type: "array" } }),
    event("response.reasoning_text.delta", ["item_id", "output_index", "content_index", "delta"], { ...itemRef, delta: { type: "string" } }),
    event("response.reasoning_text.done", ["item_id", "output_index", "content_index", "text"], { ...itemRef, text: { type: "string" } }),
    event("response.function_call_arguments.delta", ["item_id", "output_index", "delta"], { item_id: itemRef.item_id, output_index: count, delta: { type: "string" } }),
    event("response.function_call_arguments.done", ["item_id", "output_index", "arguments"], { item_id: itemRef.item_id, output_index: count, arguments: { type: "string" } }),
    event("error", ["code", "message", "param"], { code: nullable({ type: "string" }), message: { type: "string" }, param: nullable({ type: "string" }) }),
  ],
};

/** A legacy completions body, and a stream chunk once its choices have finished (OpenAI's document gives both one shape). */
const CreateCompletionResponse: JsonSchema = {
  type: "object",
  required: ["id", "object", "created", "model", "choices"],
  properties: {
    ...completionEnvelope("text_completion"),
    id: { type: "string", pattern: "^cmpl-" },
    choices: {
      type: "array",
      items: {
        type: "object",
        required: ["text", "index", "logprobs", "finish_reason"],
        properties: {
          text: { type: "string" },
          index: count,
          finish_reason: { enum: ["stop", "length", "content_filter"] },
          logprobs: nullable({
            type: "object",
            required: ["tokens", "token_logprobs", "top_logprobs", "text_offset"],
            properties: {
              tokens: { type: "array", items: { type: "string" } },
              // Null: an echoed prompt's first token (as OpenAI's API answers; its document says number).
              token_logprobs: { type: "array", items: nullable({ type: "number" }) },
              top_logprobs: { type: "array", items: nullable({ type: "object", additionalProperties: { type: "number" } }) },
              text_offset: { type: "array", items: count },
            },
          }),
        },
      },
    },
    usage: nullable(usage),
  },
};

/** By the names the official document gives the same shapes (`components.schemas.*`). */
export const wireSchemas = {
  CreateChatCompletionResponse,
  CreateChatCompletionStreamResponse,
  CreateCompletionResponse,
  ErrorResponse,
  ListModelsResponse,
  Model,
  Response,
  ResponseStreamEvent,
} as const satisfies Record<string, JsonSchema>;

export type WireSchemaName = keyof typeof wireSchemas;
