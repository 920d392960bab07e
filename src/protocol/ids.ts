/**
 * Ids that go out on the wire. randomUUID draws from Node's pooled entropy
 * cache; randomBytes per id was a synchronous syscall-sized cost on every
 * request (3 % of the gateway's CPU at 5,000 requests/s).
 */
import { randomUUID } from "node:crypto";

const random = (): string => randomUUID().replaceAll("-", "");

/** `chatcmpl-` + 32 hex digits (122 random bits). */
export const newCompletionId = (): string => `chatcmpl-${random()}`;

/** `call_` + 32 hex digits, for tool calls the model or the upstream left unnamed. */
export const newCallId = (): string => `call_${random()}`;

/** `cmpl-` + 32 hex digits: a legacy completions response. */
export const newTextCompletionId = (): string => `cmpl-${random()}`;

/** `resp_` + 32 hex digits: a Responses API response. */
export const newResponseId = (): string => `resp_${random()}`;

/** An item's id: `msg_…`, `fc_…`, `fco_…`, `rs_…` + 32 hex digits. */
export const newItemId = (prefix: "msg" | "fc" | "fco" | "rs"): string => `${prefix}_${random()}`;
/** `length` (at most 32) hex digits, for model families whose templates take only ids of one length (Mistral: 9). */
export const newShortCallId = (length: number): string => random().slice(0, length);
