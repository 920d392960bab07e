/**
 * A provider that serves the request's own API (`apis: ["responses"]` or
 * `["messages"]`) gets the client's body as it is, not its chat translation:
 * which body that is, and how it goes upstream (the upstream's model name,
 * and the gateway's token cap in the field that API keeps it in). The
 * answers are read by each API's decoder (`responses-pass-through.ts`,
 * `messages-pass-through.ts`).
 */
import type { ChatRequest } from "../protocol/chat-request.js";
import type { ProviderConfig } from "./types.js";
import type { JsonRecord } from "./upstream-wire.js";

/** The APIs passed through as they are, each with the field its body caps the output in. */
const capFields = { responses: "max_output_tokens", messages: "max_tokens" } as const;

export type NativeApi = keyof typeof capFields;

export interface NativeBody {
  endpoint: NativeApi;
  body: Readonly<JsonRecord>;
}

const isNativeApi = (endpoint: string): endpoint is NativeApi => Object.hasOwn(capFields, endpoint);

/** The request's own body when this provider takes it as it is; null when the provider gets the chat translation. */
export function nativePassThrough(request: Pick<ChatRequest, "native">, provider: ProviderConfig): NativeBody | null {
  const native = request.native;
  if (native === undefined || !isNativeApi(native.endpoint) || provider.apis?.includes(native.endpoint) !== true) return null;
  return { endpoint: native.endpoint, body: native.body };
}

/** The body as sent upstream: the upstream's model name, and the output cap as the gateway set it. */
export function nativeUpstreamBody(native: NativeBody, request: Pick<ChatRequest, "maxTokens">, upstreamModel: string): string {
  const wire: JsonRecord = { ...native.body, model: upstreamModel };
  if (request.maxTokens !== null) wire[capFields[native.endpoint]] = request.maxTokens;
  return JSON.stringify(wire);
}

/** A field's value if it is a string. */
export const stringField = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
/** A field's value if it is a finite number. */
export const numberField = (value: unknown): number | undefined => (typeof value === "number" && Number.isFinite(value) ? value : undefined);
