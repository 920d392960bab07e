/**
 * A hostile or careless upstream echoes the credentials chatport sent it, in
 * any field of its error: the client, chatport's logs and /metrics never see
 * them. A real `chatport serve` in front of a fake upstream, streamed and not,
 * errors as HTTP statuses and as in-band `{"error":…}` events.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startFakeUpstream, type FakeFault, type FakeUpstream, type RecordedRequest } from "../src/upstream/fake-upstream.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { postJson, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const providerKey = "sk-provider-secret-9f8e7d6c5b4a";
const headerSecret = "hdr/secret+0a1b2c3d4e5f=";
const clientKey = "sk-client-key-for-scrub-tests";

let fake: FakeUpstream;
let gateway: RunningServer;

before(async () => {
  fake = await startFakeUpstream({ apiKey: providerKey, models: ["fake-model"] });
  const dbPath = tempDbPath();
  const configFile = path.join(path.dirname(dbPath), "config.json");
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      models: [],
      providers: [
        {
          id: "leaky",
          baseUrl: fake.url,
          apiKeyEnv: "LEAKY_KEY",
          headers: { "x-api-key": headerSecret },
          healthCheckMs: 0,
          timeouts: { connectMs: 1000, firstByteMs: 5000, idleMs: 5000 },
        },
      ],
      upstreamModels: [{ id: "leaky", deployments: [{ provider: "leaky", model: "fake-model" }], retries: 0 }],
    }),
  );
  gateway = await startServer({
    models: {},
    args: ["--config", configFile, "--db-path", dbPath],
    apiKey: clientKey,
    env: { LEAKY_KEY: providerKey, CHATPORT_LOG_LEVEL: "debug" },
  });
});

after(async () => {
  await gateway?.stop();
  await fake?.close();
});

/** Every way the upstream could spell what it was sent. */
const leaked = [providerKey, headerSecret, encodeURIComponent(headerSecret), providerKey.slice(0, 12), headerSecret.slice(0, 12)];

function assertClean(text: string, where: string): void {
  for (const secret of leaked) assert.ok(!text.includes(secret), `${where} leaks ${secret}: ${text.slice(0, 600)}`);
}

/** An OpenAI-shaped error whose every field (and nested ones) echoes the credentials of the request it answers. */
function echoingError(req: RecordedRequest, code: unknown = `bad_key_${providerKey}`): Record<string, unknown> {
  const authorization = String(req.headers.authorization);
  return {
    message: `Incorrect API key provided: ${providerKey} (x-api-key ${String(req.headers["x-api-key"])}, ${encodeURIComponent(String(req.headers["x-api-key"]))})`,
    type: providerKey,
    param: authorization,
    code,
    details: { sent: { authorization, key: providerKey } },
  };
}

const chat = (stream: boolean): Record<string, unknown> => ({
  model: "leaky",
  messages: [{ role: "user", content: "say something" }],
  max_tokens: 6,
  stream,
  ...(stream ? { stream_options: { include_usage: true } } : {}),
});

async function ask(stream: boolean, fault: (req: RecordedRequest) => FakeFault): Promise<{ status: number; text: string }> {
  fake.fault = fault;
  const res = await postJson(gateway.baseURL, "/chat/completions", chat(stream), { authorization: `Bearer ${clientKey}` });
  return { status: res.status, text: await res.text() };
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

describe("provider credentials never leak through upstream errors", () => {
  const cases: Array<{ name: string; stream: boolean; fault: (req: RecordedRequest) => FakeFault; status: number }> = [
    { name: "a 400 echoing the key in every field", stream: false, status: 400, fault: (req) => ({ kind: "status", status: 400, body: { error: echoingError(req) } }) },
    { name: "a 400 to a streaming request", stream: true, status: 400, fault: (req) => ({ kind: "status", status: 400, body: { error: echoingError(req) } }) },
    { name: "a 422 in FastAPI's shape", stream: false, status: 422, fault: (req) => ({ kind: "status", status: 422, body: { detail: [{ loc: ["body"], msg: echoingError(req) }] } }) },
    { name: "a 404 whose error is a string beside other fields", stream: false, status: 404, fault: (req) => ({ kind: "status", status: 404, body: { error: `no such key ${providerKey}`, code: providerKey, param: req.headers.authorization } }) },
    { name: "a 400 with a flat body", stream: false, status: 400, fault: (req) => ({ kind: "status", status: 400, body: echoingError(req) }) },
    { name: "a 400 as plain text", stream: false, status: 400, fault: () => ({ kind: "status", status: 400, body: `bad key ${providerKey}` }) },
    { name: "a 200 whose body is an error", stream: false, status: 400, fault: (req) => ({ kind: "error-event", afterChunks: 0, error: echoingError(req, 400) }) },
    { name: "an error event before the first chunk", stream: true, status: 400, fault: (req) => ({ kind: "error-event", afterChunks: 0, error: echoingError(req, 400) }) },
    { name: "an error event mid-stream", stream: true, status: 200, fault: (req) => ({ kind: "error-event", afterChunks: 2, error: echoingError(req) }) },
  ];

  for (const { name, stream, fault, status } of cases) {
    test(name, async () => {
      const { status: got, text } = await ask(stream, fault);
      assert.equal(got, status, text);
      assertClean(text, name);
      if (got !== 200) {
        const body = JSON.parse(text) as ErrorBody;
        assertMatchesSchema("ErrorResponse", body);
        return;
      }
      // Mid-stream: the content so far, then the error as an event.
      const events = text
        .split("\n\n")
        .filter((e) => e.startsWith("data: ") && e !== "data: [DONE]")
        .map((e) => JSON.parse(e.slice(6)) as Record<string, unknown>);
      assert.ok(events.some((e) => "choices" in e), "content came first");
      const error = events.find((e) => "error" in e) as ErrorBody | undefined;
      assert.ok(error !== undefined, "the stream ends in an error event");
    });
  }

  test("the fields the client relies on survive: status, type, code and param pass through, scrubbed", async () => {
    const { status, text } = await ask(false, (req) => ({ kind: "status", status: 400, body: { error: { ...echoingError(req), type: "invalid_request_error" } } }));
    assert.equal(status, 400);
    const { error } = JSON.parse(text) as ErrorBody;
    assert.equal(error.type, "invalid_request_error");
    assert.equal(error.code, "bad_key_[redacted]");
    assert.equal(error.param, "Bearer [redacted]");
    assert.match(error.message, /^Incorrect API key provided: \[redacted\] \(x-api-key \[redacted\], \[redacted\]\)$/);
  });

  test("chatport's logs (debug level) and /metrics carry no credential", async () => {
    const metrics = await (await fetch(gateway.baseURL.replace(/\/v1$/, "/metrics"))).text();
    assert.match(metrics, /chatport_upstream_errors_total/);
    assertClean(metrics, "/metrics");
    assert.ok(gateway.logs.length > 0);
    assertClean(gateway.logs.join("\n"), "the logs");
  });
});
