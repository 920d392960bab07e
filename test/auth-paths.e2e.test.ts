/**
 * Authentication is bound to the routes, not to how a path is spelled: every
 * spelling of a request target that reaches a /v1 or /admin handler with a
 * key must be refused with 401 without one, and every other spelling is a 404
 * (or a 400/414 from the router, for a path it cannot decode or a segment too
 * long), always in OpenAI's envelope.
 * Targets go out byte for byte on a socket (fetch would normalise them).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { tinyModelPath } from "./helpers/models.js";
import { rawRequest, type RawResponse } from "./helpers/raw-http.js";
import { startServer, type RunningServer } from "./helpers/server.js";

const adminKey = "admin-auth-paths-0123456789";
let server: RunningServer;
let apiKey: string;

before(async () => {
  server = await startServer({
    models: { tiny: await tinyModelPath() },
    args: ["--threads", "1", "--parallel", "1", "--ctx", "256"],
    adminKey,
  });
  const created = await fetch(server.baseURL.replace(/\/v1$/, "/admin/keys"), {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "auth-paths" }),
  });
  assert.equal(created.status, 201);
  apiKey = ((await created.json()) as { secret: string }).secret;
});
after(async () => server?.stop());

const chatBody = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 1 });

function send(method: string, target: string, key: string | null): Promise<RawResponse> {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (method === "POST") headers["content-type"] = "application/json";
  return rawRequest(server.baseURL, method, target, { headers, body: method === "POST" ? chatBody : undefined });
}

/** Spellings of POST /v1/chat/completions. */
const chatTargets = [
  "/v1/chat/completions",
  "/%761/chat/completions",
  "/v%31/chat/completions",
  "/%76%31/chat/completions",
  "/%56%31/chat/completions",
  "/V1/chat/completions",
  "/v1/%63hat/completions",
  "/v1/chat/completion%73",
  "/v1/chat%2Fcompletions",
  "/v1/chat%2fcompletions",
  "/v1%2Fchat%2Fcompletions",
  "/%2576%31/chat/completions",
  "/%25761/chat/completions",
  "/v1/chat/completions/",
  "/v1/chat/completions//",
  "//v1/chat/completions",
  "/v1//chat/completions",
  "///v1/chat/completions",
  "/v1/./chat/completions",
  "/./v1/chat/completions",
  "/v1/chat/../chat/completions",
  "/x/../v1/chat/completions",
  "/%2e/v1/chat/completions",
  "/v1/%2e/chat/completions",
  "/v1\\chat\\completions",
  "/v1/chat/completions;x=1",
  "/v1;x=1/chat/completions",
  "/v1/chat/completions?x=1",
  "/v1/chat/completions?",
  "/v1/chat/completions#x",
  "/v1/chat/completions%00",
  "/v1/chat/completions%20",
  "/v1/chat/completions%3F",
  "/%761/chat/completions?/v1/",
  "/%761%2Fchat%2Fcompletions",
  "http://127.0.0.1/v1/chat/completions",
  "http://127.0.0.1/%761/chat/completions",
];

/** Spellings of GET /v1/models and GET /v1/models/tiny. */
const modelTargets = [
  "/v1/models",
  "/%761/models",
  "/v%31/models",
  "/%76%31/models",
  "/v1/%6dodels",
  "/v1/models/",
  "//v1/models",
  "/v1//models",
  "/v1/./models",
  "/V1/models",
  "/v1/models;x",
  "/v1/models?x=/v1/",
  "/v1/models/tiny",
  "/%761/models/tiny",
  "/v%31/models/tiny",
  "/v1/models/%74iny",
  "/v1/models%2Ftiny",
  "/v1/models//tiny",
  "/v1/mod%65ls",
  "/v1/models%2F",
  "/v1/models%23x",
  "/v1/models#x",
  "/%2F%2Fv1/models",
  "/%C0%AFv1/models",
  "/%C0%AE/v1/models",
  "/v1%C0%AFmodels",
  "/v1/models%09",
  "/v1/models?%00",
  "/v1/models%",
  "/%7",
  `/%761/models/${"x".repeat(300)}`,
  "http://127.0.0.1/%761/models",
  "http://127.0.0.1//v1/models",
  "HTTP://127.0.0.1/v%31/models",
];

/** Spellings of the admin API (GET /admin/keys). */
const adminTargets = [
  "/admin/keys",
  "/%61dmin/keys",
  "/admi%6e/keys",
  "/%41dmin/keys",
  "/admin%2Fkeys",
  "/admin/keys/",
  "//admin/keys",
  "/admin//keys",
  "/admin/./keys",
  "/ADMIN/keys",
  "/admin/keys;x",
  "/admin/keys?x=1",
  "/%2561dmin/keys",
  "/%61dmin/keys/%zz",
  "/admin/keys/%C0%AF",
  `/%61dmin/keys/${"k".repeat(300)}`,
  "http://127.0.0.1/%61dmin/keys",
  "/%61dmin/stats",
  "/%61dmin/usage",
  "/%61dmin/models",
];

interface Spelling {
  method: string;
  target: string;
  /** The key that reaches the handler when one is sent. */
  key: () => string;
}

const spellings: Spelling[] = [
  ...chatTargets.map((target) => ({ method: "POST", target, key: () => apiKey })),
  ...modelTargets.flatMap((target) => [
    { method: "GET", target, key: () => apiKey },
    { method: "HEAD", target, key: () => apiKey },
  ]),
  ...adminTargets.flatMap((target) => [
    { method: "GET", target, key: () => adminKey },
    { method: "HEAD", target, key: () => adminKey },
  ]),
  ...["/v1/models", "/%761/models", "/v1/chat/completions", "/%761/chat/completions", "/admin/keys", "/%61dmin/keys"].map((target) => ({
    method: "OPTIONS",
    target,
    key: () => apiKey,
  })),
];

/** 401: authentication ran; 404: no route; 400 / 414: a path the router cannot decode or too long a segment, refused before routing. */
const refusals = new Set([401, 404, 400, 414]);

describe("authentication whatever the spelling of the path", () => {
  test("every spelling that reaches a handler with a key gets 401 without one; the others are 404", async () => {
    const routed: string[] = [];
    for (const { method, target, key } of spellings) {
      const name = `${method} ${target}`;
      const without = await send(method, target, null);
      const wrong = await send(method, target, "sk-not-a-key");
      const withKey = await send(method, target, key());
      assert.ok(refusals.has(without.status), `${name} without a key: ${without.status} ${without.body.slice(0, 200)}`);
      assert.ok(refusals.has(wrong.status), `${name} with a wrong key: ${wrong.status}`);
      for (const res of method === "HEAD" ? [] : [without, wrong, withKey]) {
        if (res.status < 400) continue;
        // Refusals speak OpenAI's envelope (Fastify's own 400 for a malformed path did not) and never echo the path.
        const error = (JSON.parse(res.body) as { error: { message: string; type: string } }).error;
        assert.equal(typeof error.message, "string", `${name}: ${res.body}`);
        assert.equal(typeof error.type, "string", `${name}: ${res.body}`);
        if (target.length > 100) assert.ok(!res.body.includes(target), `${name}: the body echoes the path`);
        if (res.status === 400) assert.equal((error as { code?: string }).code, "invalid_url", `${name}: ${res.body}`);
      }
      if (withKey.status >= 200 && withKey.status < 300) {
        // The handler ran for this spelling: the same spelling without a key must have been refused by authentication.
        routed.push(name);
        assert.equal(without.status, 401, `${name} reaches a handler, so without a key it must be 401, got ${without.status}`);
        assert.equal(wrong.status, 401, `${name} reaches a handler, so with a wrong key it must be 401, got ${wrong.status}`);
        if (method !== "HEAD") {
          const error = (JSON.parse(without.body) as { error: { code: string; type: string } }).error;
          assert.match(error.code, /^invalid_(api|admin)_key$/, name);
        }
      } else {
        assert.ok(withKey.status >= 400, `${name} with a key: ${withKey.status}`);
      }
      if (process.env.AUTH_PATHS_TRACE === "1") console.log(`${name}: none ${without.status}, wrong ${wrong.status}, key ${withKey.status}`);
    }
    // The canonical spellings and the encodings the router decodes all reach handlers (so the table tests something).
    for (const name of [
      "POST /v1/chat/completions",
      "POST /%761/chat/completions",
      "POST /v%31/chat/completions",
      "GET /%761/models",
      "HEAD /%761/models",
      "GET /%761/models/tiny",
      "GET /%61dmin/keys",
    ]) {
      assert.ok(routed.includes(name), `${name} should reach its handler with a key (routed: ${routed.join(", ")})`);
    }
  });

  test("/health and /metrics stay open; everything under /v1 and /admin is closed", async () => {
    assert.equal((await send("GET", "/health", null)).status, 200);
    assert.equal((await send("GET", "/metrics", null)).status, 200);
    assert.equal((await send("GET", "/v1/models", null)).status, 401);
    assert.equal((await send("GET", "/admin/keys", null)).status, 401);
    // The dashboard's playground calls /v1 with the admin key; a managed key is no admin key.
    assert.equal((await send("GET", "/%761/models", adminKey)).status, 200);
    assert.equal((await send("GET", "/%61dmin/keys", apiKey)).status, 401);
  });

  test("no request without a key was served: no ledger row and no completion", async () => {
    const usage = await fetch(server.baseURL.replace(/\/v1$/, "/admin/usage?group_by=key"), {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    const rows = ((await usage.json()) as { data: Array<{ group: string | null; requests: number }> }).data;
    // Every completed request was made with the managed key (its id groups them); none anonymous.
    assert.ok(rows.length >= 1);
    for (const row of rows) assert.notEqual(row.group, null, `anonymous requests were served: ${JSON.stringify(rows)}`);
  });
});
