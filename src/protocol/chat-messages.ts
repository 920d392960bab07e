/**
 * Chat messages: the wire schema of every role and their normalisation into
 * {@link ChatMessage} — developer → system, text parts joined, legacy
 * `function_call` / `function` messages → tool calls / tool results.
 */
import { z } from "zod";
import { invalidRequest } from "./errors.js";

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const imagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.object({ url: z.string(), detail: z.enum(["auto", "low", "high"]).optional() }),
});
const audioPart = z.object({
  type: z.literal("input_audio"),
  input_audio: z.object({ data: z.string(), format: z.string() }),
});
const filePart = z.object({ type: z.literal("file"), file: z.object({}).passthrough() });
const refusalPart = z.object({ type: z.literal("refusal"), refusal: z.string() });

const userContentPart = z.discriminatedUnion("type", [textPart, imagePart, audioPart, filePart]);
const assistantContentPart = z.discriminatedUnion("type", [textPart, refusalPart]);
const textContent = z.union([z.string(), z.array(textPart)]);

const toolCallSchema = z.object({
  id: z.string().min(1),
  type: z.literal("function"),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

export const messageSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content: textContent, name: z.string().optional() }),
  z.object({ role: z.literal("developer"), content: textContent, name: z.string().optional() }),
  z.object({ role: z.literal("user"), content: z.union([z.string(), z.array(userContentPart)]), name: z.string().optional() }),
  z.object({
    role: z.literal("assistant"),
    content: z.union([z.string(), z.array(assistantContentPart), z.null()]).optional(),
    name: z.string().optional(),
    refusal: z.string().nullable().optional(),
    tool_calls: z.array(toolCallSchema).optional(),
    function_call: z.object({ name: z.string().min(1), arguments: z.string() }).nullable().optional(),
    reasoning_content: z.string().nullable().optional(),
  }),
  z.object({ role: z.literal("tool"), content: textContent, tool_call_id: z.string().min(1) }),
  z.object({ role: z.literal("function"), content: z.string().nullable(), name: z.string().min(1) }),
]);

type WireMessage = z.infer<typeof messageSchema>;

export interface ChatToolCall {
  id: string;
  name: string;
  /** The arguments JSON text, as the client sent it. */
  arguments: string;
}

export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | { role: "assistant"; content: string; toolCalls: ChatToolCall[]; reasoning: string | null }
  | { role: "tool"; content: string; toolCallId: string; name: string | null };

function joinText(parts: ReadonlyArray<{ type: string; text?: string; refusal?: string }>): string {
  return parts.map((p) => p.text ?? p.refusal ?? "").join("\n");
}

/**
 * With `media` (an upstream model that takes images or audio), non-text parts
 * are allowed: the normalised content keeps only the text, and the parts go
 * to the upstream from the request's wire body.
 */
export function normaliseMessages(messages: readonly WireMessage[], model: string, media = false): ChatMessage[] {
  /** tool_call id → function name, so tool results can name their function (templates often want it). */
  const callNames = new Map<string, string>();
  /** Legacy function messages answer the latest call of that name. */
  const legacyCallIds = new Map<string, string>();
  return messages.map((m, i): ChatMessage => {
    switch (m.role) {
      case "system":
      case "developer":
        return { role: "system", content: typeof m.content === "string" ? m.content : joinText(m.content) };
      case "user": {
        if (typeof m.content === "string") return { role: "user", content: m.content };
        const j = m.content.findIndex((p) => p.type !== "text");
        if (j >= 0 && media) return { role: "user", content: joinText(m.content.filter((p) => p.type === "text")) };
        if (j >= 0) {
          throw invalidRequest(
            `Content part type '${m.content[j]?.type ?? "unknown"}' is not supported: model '${model}' accepts text only.`,
            `messages[${i}].content[${j}].type`,
            "unsupported_content_type",
          );
        }
        return { role: "user", content: joinText(m.content) };
      }
      case "assistant": {
        const toolCalls: ChatToolCall[] = (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
        if (m.function_call != null) {
          const id = `call_legacy_${i}`;
          legacyCallIds.set(m.function_call.name, id);
          toolCalls.push({ id, name: m.function_call.name, arguments: m.function_call.arguments });
        }
        for (const call of toolCalls) callNames.set(call.id, call.name);
        const content = m.content ?? "";
        return {
          role: "assistant",
          content: typeof content === "string" ? content : joinText(content),
          toolCalls,
          reasoning: m.reasoning_content ?? null,
        };
      }
      case "tool":
        return {
          role: "tool",
          content: typeof m.content === "string" ? m.content : joinText(m.content),
          toolCallId: m.tool_call_id,
          name: callNames.get(m.tool_call_id) ?? null,
        };
      case "function":
        return { role: "tool", content: m.content ?? "", toolCallId: legacyCallIds.get(m.name) ?? `call_legacy_${i}`, name: m.name };
    }
  });
}
