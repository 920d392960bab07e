/**
 * A conversation with tool calls and results, for a chat template that knows
 * no tools and no `tool` role (Gemma 2/3 raise on one, Phi-3.5 drops it): each
 * call is written into its assistant turn as text, each result becomes a user
 * turn, in the fallback's Hermes wording (see fallback.ts, which describes the
 * tools the same way); consecutive user turns are joined so roles still
 * alternate, and, for templates without a system role, the system text opens
 * the first user turn (as Gemma 3's own template does).
 */
import type { ChatMessage } from "../../../protocol/chat-request.js";
import { fallbackTurns } from "./fallback.js";

export function toolTurnsAsText(messages: readonly ChatMessage[], options: { systemRole: boolean }): ChatMessage[] {
  const out: ChatMessage[] = [];
  let system: string | null = null;
  for (const m of messages) {
    let next: ChatMessage = m;
    if (m.role === "system" && !options.systemRole) {
      system = system === null ? m.content : `${system}\n\n${m.content}`;
      continue;
    }
    if (m.role === "assistant" && m.toolCalls.length > 0) {
      const calls = m.toolCalls.map((c) => fallbackTurns.call(c.name, c.arguments));
      next = { ...m, content: [m.content, ...calls].filter((s) => s !== "").join("\n"), toolCalls: [] };
    } else if (m.role === "tool") {
      next = { role: "user", content: fallbackTurns.result(m.content) };
    }
    const last = out.at(-1);
    if (next.role === "user" && last?.role === "user") out[out.length - 1] = { role: "user", content: `${last.content}\n\n${next.content}` };
    else out.push(next);
  }
  if (system !== null) {
    const first = out.findIndex((m) => m.role === "user");
    const user = out[first];
    if (user !== undefined && user.role === "user") out[first] = { role: "user", content: `${system}\n\n${user.content}` };
    else out.unshift({ role: "user", content: system });
  }
  return out;
}
