/**
 * Items of a stored conversation: this turn's input as it is kept (every item
 * with an id, a message's text as content parts), the conversation a
 * `previous_response_id` continues, and `GET /v1/responses/{id}/input_items`
 * pages over them.
 */
import { z } from "zod";
import { issueToError } from "./chat-request.js";
import { invalidRequest } from "./errors.js";
import { newItemId } from "./ids.js";
import { inputItemSchema, type ResponseInputItem } from "./responses-request.js";

/** This turn's input as stored and listed: ids on every item, string contents as one text part, status completed. */
export function storedInputItems(items: readonly ResponseInputItem[]): Record<string, unknown>[] {
  return items.map((item) => {
    switch (item.type) {
      case "message": {
        const content =
          typeof item.content === "string" ? [{ type: item.role === "assistant" ? "output_text" : "input_text", text: item.content, ...(item.role === "assistant" ? { annotations: [] } : {}) }] : item.content;
        return { ...item, id: item.id ?? newItemId("msg"), content, status: item.status ?? "completed" };
      }
      case "function_call":
        return { ...item, id: item.id ?? newItemId("fc"), status: item.status ?? "completed" };
      case "function_call_output":
        return { ...item, id: item.id ?? newItemId("fco"), status: item.status ?? "completed" };
      case "reasoning":
        return { ...item, id: item.id ?? newItemId("rs") };
      case "item_reference":
        return { ...item };
    }
  });
}

/** The items a stored response's continuation starts from: its history, its input, its output. */
export function conversationItems(history: readonly unknown[], input: readonly unknown[], output: readonly unknown[]): ResponseInputItem[] {
  return [...history, ...input, ...output].map((item) => inputItemSchema.parse(item));
}

const listQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).optional(),
    order: z.enum(["asc", "desc"]).optional(),
    after: z.string().min(1).optional(),
    before: z.string().min(1).optional(),
    include: z.union([z.string(), z.array(z.string())]).optional(),
  })
  .passthrough();

export interface ItemList {
  object: "list";
  data: Record<string, unknown>[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** One page of items, OpenAI's way: `order` (default desc), `limit` (1–100, default 20), `after`/`before` an item id. */
export function listItems(items: readonly Record<string, unknown>[], rawQuery: unknown): ItemList {
  const parsed = listQuerySchema.safeParse(rawQuery ?? {});
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw first === undefined ? invalidRequest("Invalid query.") : issueToError(first);
  }
  const query = parsed.data;
  const ordered = query.order === "asc" ? [...items] : [...items].reverse();
  let start = 0;
  let end = ordered.length;
  if (query.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === query.after);
    if (at < 0) throw invalidRequest(`No item with id '${query.after}' in this list.`, "after", "invalid_value");
    start = at + 1;
  }
  if (query.before !== undefined) {
    const at = ordered.findIndex((item) => item.id === query.before);
    if (at < 0) throw invalidRequest(`No item with id '${query.before}' in this list.`, "before", "invalid_value");
    end = at;
  }
  const window = ordered.slice(start, Math.max(start, end));
  const data = window.slice(0, query.limit ?? 20);
  return {
    object: "list",
    data,
    first_id: (data[0]?.id as string | undefined) ?? null,
    last_id: (data.at(-1)?.id as string | undefined) ?? null,
    has_more: window.length > data.length,
  };
}
