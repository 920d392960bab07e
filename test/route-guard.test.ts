/**
 * RouteGuard on a bare Fastify app: a protected route outside a guarded scope
 * stops the server from starting; inside one, its hook runs for every
 * spelling the router matches.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import Fastify from "fastify";
import { RouteGuard } from "../src/server/route-guard.js";

test("a route under a protected prefix registered outside a guarded scope refuses to start", async () => {
  const app = Fastify();
  const guard = new RouteGuard(app, ["/v1"]);
  void app.register(async (api) => {
    guard.guard(api, async () => {});
    api.get("/v1/models", async () => ({}));
  });
  app.get("/v1/secret", async () => ({ leaked: true }));
  app.get("/v10/fine", async () => ({}));
  await assert.rejects(async () => app.ready(), /outside an authenticated scope: GET \/v1\/secret, HEAD \/v1\/secret$/);
});

test("a guarded scope's hook runs for encoded spellings of its routes", async () => {
  const app = Fastify();
  const guard = new RouteGuard(app, ["/v1", "/admin"]);
  void app.register(
    async (admin) => {
      guard.guard(admin, async (request) => {
        if (request.headers.authorization !== "Bearer ok") throw Object.assign(new Error("no"), { statusCode: 401 });
      });
      admin.get("/keys", async () => ({ ok: true }));
    },
    { prefix: "/admin" },
  );
  await app.ready();
  for (const url of ["/admin/keys", "/%61dmin/keys", "/admi%6E/keys", "/admin/%6beys?x"]) {
    assert.equal((await app.inject({ url })).statusCode, 401, url);
    assert.equal((await app.inject({ url, headers: { authorization: "Bearer ok" } })).statusCode, 200, url);
  }
  await app.close();
});
