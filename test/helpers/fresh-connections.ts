/**
 * `fetch` on a new connection for every request: no idle keep-alive
 * connection is ever reused. The Responses e2e tests use it for their SDK
 * clients and raw requests: under load, a request sent right after a long
 * (several-second) generation on a reused connection failed now and then
 * with "fetch failed" / "Connection error." before it reached the server,
 * which is not what those tests are about. (Not proven: Node 20's bundled
 * undici times idle connections on coarse timers, and the server closed idle
 * ones after 5 s + 1 s. Since session 10 it keeps them 65 s, which leaves no
 * such race for a client that closes after 4 s; this stays until the flake
 * is shown gone.) Pass it as the `fetch` option of `new OpenAI(…)`.
 */
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from "undici";

const freshConnections = new Agent({ pipelining: 0 });

export const freshFetch = ((url: string | URL, init?: RequestInit) =>
  undiciFetch(url, { ...(init as UndiciRequestInit), dispatcher: freshConnections })) as unknown as typeof globalThis.fetch;
