/**
 * The Responses API: POST /v1/responses (the Responses surface on the one
 * dispatch path — gateway/dispatcher.ts does lookup, admission, the engine
 * and metering; protocol/responses-*.ts the wire format), and the stored
 * responses: GET and DELETE /v1/responses/{id}, GET
 * /v1/responses/{id}/input_items. A stored response belongs to the key that
 * created it; to every other key it does not exist (404). A conversation
 * already past the size limit is refused (400) before it runs; a response
 * that grows past it while it is generated is answered (and metered) but not
 * stored, and what is sent of it says `store: false`.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Dispatcher } from "../../gateway/dispatcher.js";
import type { ApiSurface } from "../../protocol/api-surface.js";
import { invalidRequest, responseNotFound } from "../../protocol/errors.js";
import { conversationItems, listItems, storedInputItems } from "../../protocol/responses-items.js";
import { parseResponsesRequest, peekPreviousResponseId, toResponsesError, type ResponseInputItem, type ResponsesRequest } from "../../protocol/responses-request.js";
import { ResponsesEncoder } from "../../protocol/responses-response.js";
import type { ResponseStore, StoredResponse } from "../../store/types.js";
import { dispatchRequest, disconnectSignal, sendDispatch } from "../dispatch-route.js";

export interface ResponsesRouteDeps {
  dispatcher: Dispatcher;
  responses: ResponseStore;
  /** How long a stored response lives, ms (0: until deleted). */
  retentionMs: number;
  /** Largest stored response, its conversation included (JSON bytes). */
  maxBytes: number;
}

/** Ids we hand out; anything else names no response (and never reaches the database). */
const RESPONSE_ID = /^resp_[A-Za-z0-9]{1,64}$/;

/** Expired rows are purged at most this often (after a save). */
const PURGE_EVERY_MS = 60_000;

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), "utf8");

export function registerResponses(app: FastifyInstance, deps: ResponsesRouteDeps): void {
  const { responses } = deps;
  let lastPurge = 0;

  const ownerOf = (request: FastifyRequest): string | null => request.caller.key?.id ?? null;

  async function stored(request: FastifyRequest, id: string, param: string | null = null): Promise<StoredResponse> {
    const found = RESPONSE_ID.test(id) ? await responses.get(id, ownerOf(request)) : null;
    if (found === null) throw responseNotFound(id, param);
    return found;
  }

  function tooLarge(bytes: number): never {
    throw invalidRequest(
      `This conversation is too large to store (${bytes} bytes; the limit is ${deps.maxBytes}). Continue it with store: false, or start a new one.`,
      "store",
      "response_too_large",
    );
  }

  app.post("/v1/responses", async (request, reply) => {
    const done = app.inflight.begin();
    try {
      // The conversation this request continues, from the database (any replica wrote it).
      const previousId = peekPreviousResponseId(request.body);
      let history: ResponseInputItem[] = [];
      if (previousId !== null) {
        const previous = await stored(request, previousId, "previous_response_id");
        history = conversationItems(previous.history, previous.input, (previous.response.output as unknown[] | undefined) ?? []);
      }

      // The surface for this one request: the parse keeps the Responses fields the encoder echoes and storage keeps.
      let parsed: ResponsesRequest | null = null;
      let storedInput: Record<string, unknown>[] = [];
      const surface: ApiSurface = {
        api: "responses",
        parse: (body, options) => {
          const request = parseResponsesRequest(body, options, history);
          if (request.store) {
            storedInput = storedInputItems(request.input);
            const bytes = jsonBytes(history) + jsonBytes(storedInput);
            if (bytes > deps.maxBytes) tooLarge(bytes);
          }
          parsed = request;
          return request.chat;
        },
        encoder: (context) => {
          if (parsed === null) throw new Error("encoder before parse");
          return new ResponsesEncoder(parsed, context);
        },
        error: toResponsesError,
      };
      const dispatch = await dispatchRequest(deps.dispatcher, surface, request, reply, disconnectSignal(request, reply));
      const encoder = surface.encoder({ request: dispatch.request, systemFingerprint: dispatch.engine.systemFingerprint }) as ResponsesEncoder;
      const store = async (): Promise<void> => {
        const body = encoder.response();
        const now = Date.now();
        const row: StoredResponse = {
          id: body.id,
          keyId: ownerOf(request),
          model: body.model,
          createdAt: new Date(now),
          expiresAt: deps.retentionMs > 0 ? new Date(now + deps.retentionMs) : null,
          history,
          input: storedInput,
          response: body as unknown as Record<string, unknown>,
        };
        const bytes = jsonBytes(row.history) + jsonBytes(row.input) + jsonBytes(row.response);
        if (bytes > deps.maxBytes) {
          // Generated, metered and paid for: the client gets its answer, which
          // says `store: false` — it cannot be retrieved or continued.
          encoder.unstored();
          request.log.warn({ responseId: body.id, bytes, maxBytes: deps.maxBytes }, "response not stored: larger than the size limit");
          return;
        }
        await responses.save(row);
        if (now - lastPurge > PURGE_EVERY_MS) {
          lastPurge = now;
          responses.purgeExpired().catch((err: unknown) => request.log.warn({ err }, "purging expired responses failed"));
        }
      };
      const keep = (parsed as ResponsesRequest | null)?.store === true;
      return await sendDispatch(app, request, reply, surface, dispatch, encoder, keep ? store : undefined);
    } finally {
      done();
    }
  });

  app.get<{ Params: { id: string } }>("/v1/responses/:id", async (request) => (await stored(request, request.params.id)).response);

  app.delete<{ Params: { id: string } }>("/v1/responses/:id", async (request) => {
    const { id } = request.params;
    if (!RESPONSE_ID.test(id) || !(await responses.delete(id, ownerOf(request)))) throw responseNotFound(id);
    return { id, object: "response", deleted: true };
  });

  app.get<{ Params: { id: string } }>("/v1/responses/:id/input_items", async (request) => {
    const found = await stored(request, request.params.id);
    return listItems(found.input as Record<string, unknown>[], request.query);
  });
}
