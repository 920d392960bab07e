/**
 * Text an admin sends (names, owners, model ids, key ids, usage filters) with
 * NUL, other control characters or lone surrogates is refused with a 400 that
 * names the field, on SQLite and on PostgreSQL alike (PostgreSQL used to
 * answer NUL with a 500 `invalid byte sequence`) — through the admin API and
 * the `chatport keys` / `chatport usage` CLI.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { tinyModelPath } from "./helpers/models.js";
import { assertMatchesSchema } from "./helpers/openapi.js";
import { createTestSchema, type TestSchema } from "./helpers/postgres.js";
import { cliPath, startServer, tempDbPath, type RunningServer } from "./helpers/server.js";

const run = promisify(execFile);
const adminKey = "admin-input-tests-0123456789";

/** Strings no store may be given. */
const refused: Array<[string, string]> = [
  ["NUL inside", "a\u0000b"],
  ["only NUL", "\u0000"],
  ["SOH", "a\u0001b"],
  ["an escape sequence", "x\u001b[31mred"],
  ["a newline inside", "a\nb"],
  ["DEL", "a\u007fb"],
  ["a C1 control", "a\u0085b"],
  ["a lone high surrogate", "a\ud800b"],
  ["a lone low surrogate", "a\udc00"],
];

interface WireError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

interface Backend {
  name: string;
  args: string[];
  cleanup(): Promise<void>;
}

const backends: Array<{ name: string; make: () => Promise<Backend> }> = [
  { name: "SQLite", make: async () => ({ name: "SQLite", args: ["--db-path", tempDbPath()], cleanup: async () => {} }) },
  {
    name: "PostgreSQL",
    make: async () => {
      const schema: TestSchema = await createTestSchema();
      return { name: "PostgreSQL", args: ["--database-url", schema.url], cleanup: () => schema.drop() };
    },
  },
];

for (const { name, make } of backends) {
  describe(`admin text fields on ${name}`, () => {
    let backend: Backend;
    let server: RunningServer;
    let keyId: string;

    const admin = (method: string, route: string, body?: unknown): Promise<Response> =>
      fetch(server.baseURL.replace(/\/v1$/, "/admin") + route, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    async function assertRefused(res: Response, param: string, what: string): Promise<void> {
      const text = await res.text();
      assert.equal(res.status, 400, `${backend.name}, ${what}: ${res.status} ${text}`);
      const body = JSON.parse(text) as WireError;
      assertMatchesSchema("ErrorResponse", body);
      assert.equal(body.error.type, "invalid_request_error", what);
      assert.equal(body.error.param, param, what);
      assert.ok(body.error.message.startsWith(`${param}: must `), `${what}: ${body.error.message}`);
    }

    const cli = (args: string[]): Promise<{ stdout: string; stderr: string; code: number }> =>
      run(process.execPath, [cliPath, ...args, ...backend.args], { env: { ...process.env, CHATPORT_LOG_LEVEL: "warn" } }).then(
        ({ stdout, stderr }) => ({ stdout, stderr, code: 0 }),
        (err: { stdout: string; stderr: string; code: number }) => ({ stdout: err.stdout, stderr: err.stderr, code: err.code }),
      );

    before(async () => {
      backend = await make();
      server = await startServer({
        models: { tiny: await tinyModelPath() },
        args: ["--threads", "1", "--parallel", "1", "--ctx", "256", ...backend.args],
        adminKey,
      });
      const res = await admin("POST", "/keys", { name: "plain" });
      assert.equal(res.status, 201);
      keyId = ((await res.json()) as { id: string }).id;
    });
    after(async () => {
      await server?.stop();
      await backend?.cleanup();
    });

    test("creating a key: each text field with NUL, control characters or lone surrogates is a 400 naming it", async () => {
      for (const [what, bad] of refused) {
        await assertRefused(await admin("POST", "/keys", { name: bad }), "name", `name with ${what}`);
        await assertRefused(await admin("POST", "/keys", { name: "ok", owner: bad }), "owner", `owner with ${what}`);
        await assertRefused(await admin("POST", "/keys", { name: "ok", models: [bad] }), "models[0]", `models[0] with ${what}`);
        await assertRefused(await admin("POST", "/keys", { name: "ok", models: ["tiny", bad] }), "models[1]", `models[1] with ${what}`);
      }
      const list = (await (await admin("GET", "/keys")).json()) as { data: unknown[] };
      assert.equal(list.data.length, 1, `${backend.name}: nothing was stored`);
    });

    test("editing a key: the same fields are refused the same way, and the key is unchanged", async () => {
      for (const [what, bad] of refused) {
        await assertRefused(await admin("PATCH", `/keys/${keyId}`, { name: bad }), "name", `name with ${what}`);
        await assertRefused(await admin("PATCH", `/keys/${keyId}`, { owner: bad }), "owner", `owner with ${what}`);
        await assertRefused(await admin("PATCH", `/keys/${keyId}`, { models: ["tiny", bad] }), "models[1]", `models[1] with ${what}`);
      }
      const key = (await (await admin("GET", `/keys/${keyId}`)).json()) as { name: string; owner: string | null; models: string[] | null };
      assert.deepEqual([key.name, key.owner, key.models], ["plain", null, null]);
    });

    test("a key id in the path and usage filters in the query are refused the same way (param id, key, model)", async () => {
      for (const encoded of ["%00", "key_%00x", "key_%01", "key_%1B%5B0m", "key_%C2%85"]) {
        await assertRefused(await admin("GET", `/keys/${encoded}`), "id", `GET /keys/${encoded}`);
        await assertRefused(await admin("PATCH", `/keys/${encoded}`, { name: "x" }), "id", `PATCH /keys/${encoded}`);
        await assertRefused(await admin("POST", `/keys/${encoded}/revoke`, {}), "id", `POST /keys/${encoded}/revoke`);
        await assertRefused(await admin("DELETE", `/keys/${encoded}`), "id", `DELETE /keys/${encoded}`);
        await assertRefused(await admin("GET", `/usage?key=${encoded}`), "key", `GET /usage?key=${encoded}`);
        await assertRefused(await admin("GET", `/usage?model=${encoded}`), "model", `GET /usage?model=${encoded}`);
      }
    });

    test("real Unicode is kept exactly; surrounding whitespace is still trimmed", async () => {
      const name = "Ünïcödé 名前 😀 — ok";
      const res = await admin("POST", "/keys", { name: `  ${name}\n`, owner: "équipe ✓", models: ["tiny", "modèle/😀"] });
      assert.equal(res.status, 201, await res.clone().text());
      const { id } = (await res.json()) as { id: string };
      const key = (await (await admin("GET", `/keys/${id}`)).json()) as { name: string; owner: string; models: string[] };
      assert.deepEqual([key.name, key.owner, key.models], [name, "équipe ✓", ["tiny", "modèle/😀"]]);
      const usage = await admin("GET", `/usage?model=${encodeURIComponent("modèle/😀")}&key=${id}`);
      assert.equal(usage.status, 200);
    });

    test("the CLI refuses the same text, names the flag, echoes nothing and stores nothing", async () => {
      const before = ((await (await admin("GET", "/keys")).json()) as { data: unknown[] }).data.length;
      for (const [args, flag] of [
        [["keys", "create", "--name", "a\u0001b"], "--name"],
        [["keys", "create", "--name", "ok", "--owner", "x\u001b[31m"], "--owner"],
        [["keys", "create", "--name", "ok", "--models", "tiny,a\u007fb"], "--models"],
        [["keys", "show", "key_\u0001"], "<id>"],
        [["keys", "revoke", "key_\u001b[0m"], "<id>"],
        [["usage", "--key", "key_\u0002"], "--key"],
        [["usage", "--model", "m\u0085"], "--model"],
      ] as Array<[string[], string]>) {
        const { code, stderr } = await cli(args);
        assert.equal(code, 1, `${args.join(" ")}: exit ${code}`);
        assert.match(stderr, new RegExp(`^chatport: ${flag.replace(/[<>-]/g, "\\$&")} must not contain NUL or other control characters\\.\\n$`), args.join(" "));
      }
      const afterCount = ((await (await admin("GET", "/keys")).json()) as { data: unknown[] }).data.length;
      assert.equal(afterCount, before);
    });

    test("nothing above was a server error: no 500 logged, and the server still serves", async () => {
      const failures = server.jsonLogs().filter((entry) => typeof entry.level === "number" && entry.level >= 50);
      assert.deepEqual(failures, [], `${backend.name}: errors were logged`);
      assert.equal((await admin("GET", "/keys")).status, 200);
    });
  });
}
