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

/** By the names the official document gives the same shapes (`components.schemas.*`). */
export const wireSchemas = {
  CreateChatCompletionResponse,
  CreateChatCompletionStreamResponse,
  ErrorResponse,
  ListModelsResponse,
  Model,
} as const satisfies Record<string, JsonSchema>;

export type WireSchemaName = keyof typeof wireSchemas;
