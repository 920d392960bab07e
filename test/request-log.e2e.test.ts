/**
 * Request logging on a real server: one `info` line per request (method,
 * path, status, ms, model, request id) instead of Fastify's two, and the
 * dashboard's / load balancer's polls only at `debug`.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { tinyModelPath } from "./helpers/models.js";
import { postJson, startServer, type RunningServer } from "./helpers/server.js";

const adminKey = "sk-admin-request-log";
const INFO = 30;
const DEBUG = 20;

async function linesOf(server: RunningServer, reqId: string, settled: (lines: Array<Record<string, unknown>>) => boolean): Promise<Array<Record<string, unknown>>> {
  // Logs arrive over a pipe after the response: wait (bounded) until the expected line is there.
  for (let i = 0; i < 250; i++) {
    const lines = server.jsonLogs().filter((l) => l.reqId === reqId);
    if (settled(lines)) return lines;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return server.jsonLogs().filter((l) => l.reqId === reqId);
}

const requestLines = (lines: Array<Record<string, unknown>>): Array<Record<string, unknown>> =>
  lines.filter((l) => l.msg === "request" || l.msg === "incoming request" || l.msg === "request completed");

for (const level of ["info", "debug"] as const) {
  describe(`CHATPORT_LOG_LEVEL=${level}`, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer({
        models: { tiny: await tinyModelPath() },
        args: ["--threads", "1", "--parallel", "1", "--ctx", "256"],
        adminKey,
        env: { CHATPORT_LOG_LEVEL: level },
      });
    });
    after(async () => server?.stop());

    test("a chat completion is one line: method, path, status, ms, model, request id", async () => {
      const res = await postJson(server.baseURL, "/chat/completions?trace=1", { model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }, {
        authorization: `Bearer ${adminKey}`,
        "x-request-id": `chat-${level}`,
      });
      assert.equal(res.status, 200);
      const lines = requestLines(await linesOf(server, `chat-${level}`, (l) => requestLines(l).length > 0));
      assert.equal(lines.length, 1, JSON.stringify(lines));
      const [line] = lines;
      assert.equal(line?.level, INFO);
      assert.deepEqual([line?.method, line?.url, line?.status, line?.model], ["POST", "/v1/chat/completions", 200, "tiny"]);
      assert.equal(typeof line?.ms, "number");
    });

    test("the dashboard's polls (/admin/*, /metrics, /health) are debug lines; a refused poll is info", async () => {
      const headers = { authorization: `Bearer ${adminKey}` };
      const root = server.baseURL.replace(/\/v1$/, "");
      for (const [i, path] of ["/admin/stats", "/admin/models", "/metrics", "/health"].entries()) {
        const res = await fetch(root + path, { headers: { ...headers, "x-request-id": `poll-${level}-${i}` } });
        assert.equal(res.status, 200, path);
      }
      const refused = await fetch(root + "/admin/stats", { headers: { "x-request-id": `refused-${level}` } });
      assert.equal(refused.status, 401);
      const refusedLines = requestLines(await linesOf(server, `refused-${level}`, (l) => requestLines(l).length > 0));
      assert.deepEqual(refusedLines.map((l) => [l.level, l.status]), [[INFO, 401]]);
      // The refused poll was logged after the others: theirs are out by now, if they were written at all.
      for (let i = 0; i < 4; i++) {
        const lines = requestLines(server.jsonLogs().filter((l) => l.reqId === `poll-${level}-${i}`));
        assert.deepEqual(lines.map((l) => l.level), level === "debug" ? [DEBUG] : [], `poll ${i}`);
      }
    });
  });
}
