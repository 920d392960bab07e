/**
 * POST /v1/chat/completions: the chat surface on the one dispatch path
 * (gateway/dispatcher.ts does lookup, admission, the engine and metering;
 * protocol/chat-surface.ts the wire format).
 */
import type { FastifyInstance } from "fastify";
import type { Dispatcher } from "../../gateway/dispatcher.js";
import { chatSurface } from "../../protocol/chat-surface.js";
import { registerDispatchRoute } from "../dispatch-route.js";

export function registerChatCompletions(app: FastifyInstance, dispatcher: Dispatcher): void {
  registerDispatchRoute(app, "/v1/chat/completions", chatSurface, dispatcher);
}
