/**
 * `fetch` on a new connection for every request: no idle keep-alive
 * connection is ever reused. The Responses e2e tests use it for their SDK
 * clients and raw requests: under load, a request sent right after a long
 * (several-second) generation on a reused connection failed now and then
 * with "fetch failed" / "Connection error." before it reached the server,
 * which is not what those tests are about. (Not proven: Node 20's bundled
 * undici times idle connections on coarse timers; the server closes idle
 * ones after 5 s.) Pass it as the `fetch` option of `new OpenAI(…)`.
 */
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from "undici";

const freshConnections = new Agent({ pipelining: 0 });

export const freshFetch = ((url: string | URL, init?: RequestInit) =>
  undiciFetch(url, { ...(init as UndiciRequestInit), dispatcher: freshConnections })) as unknown as typeof globalThis.fetch;
