/**
 * The admin API under /admin/, authorised by the admin key only:
 * managed keys (create, list, show, edit, revoke) and usage from the ledger.
 * A key's secret appears in exactly one response: the one that created it.
 */
import type { KvCacheReport } from "../../engines/engine.js";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { Gatekeeper } from "../../gateway/gatekeeper.js";
import {
  checkStoredText,
  createKeySchema,
  keyToWire,
  keyUpdateFromBody,
  newKeyFromBody,
  storedTextProblem,
  updateKeySchema,
  usageToWire,
} from "../../gateway/key-wire.js";
import { secretMatcher, bearerToken } from "../../gateway/secrets.js";
import { ApiError, adminForbidden, invalidRequest } from "../../protocol/errors.js";
import type { Store, UsageQuery } from "../../store/types.js";
import type { GatewayMetrics } from "../../gateway/metrics.js";
import type { ModelRegistry } from "../../gateway/model-registry.js";
import type { DeploymentSnapshot } from "../../upstream/provider-pool.js";
import type { RouteGuard } from "../route-guard.js";

export interface AdminDeps {
  store: Store;
  gatekeeper: Gatekeeper;
  adminKey: string | null;
  registry: ModelRegistry;
  metrics: GatewayMetrics;
  deployments: () => DeploymentSnapshot[];
}

/** A zod issue's path as OpenAI names a param: `models[1]`, `budget.amount`. */
function paramName(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`)).join("");
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const param = issue === undefined ? "" : paramName(issue.path);
  throw invalidRequest(`${param === "" ? "body" : param}: ${issue?.message ?? "invalid"}`, param === "" ? null : param);
}

/** The `:id` of a key route: refused (400, param `id`) when no store could hold it. */
function keyIdParam(params: { id: string }): string {
  const problem = storedTextProblem(params.id);
  if (problem !== null) throw invalidRequest(`id: ${problem}`, "id");
  return params.id;
}

/** Unix seconds or an ISO date/time in a query string. */
const queryTime = z
  .string()
  .transform((value, ctx) => {
    const date = /^\d+$/.test(value) ? new Date(Number(value) * 1000) : new Date(value);
    if (Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: "custom", message: "must be Unix seconds or an ISO 8601 date" });
      return z.NEVER;
    }
    return date;
  })
  .optional();

const usageQuerySchema = z
  .object({
    key: z.string().min(1).superRefine(checkStoredText).optional(),
    model: z.string().min(1).superRefine(checkStoredText).optional(),
    from: queryTime,
    to: queryTime,
    group_by: z.enum(["hour", "day", "model", "key"]).optional(),
  })
  .strict();

function notFound(id: string): ApiError {
  return new ApiError(404, "not_found_error", `No API key with id \`${id}\`.`, { param: "id", code: "key_not_found" });
}

export function registerAdmin(app: FastifyInstance, guard: RouteGuard, deps: AdminDeps): void {
  const { store, gatekeeper } = deps;
  const isAdmin = deps.adminKey === null ? null : secretMatcher(deps.adminKey);

  app.register(
    async (admin) => {
      guard.guard(admin, async (request) => {
        if (isAdmin === null) throw adminForbidden(false);
        if (!isAdmin(bearerToken(request.headers.authorization))) throw adminForbidden(true);
      });

      admin.post("/keys", async (request, reply) => {
        const created = await store.keys.create(newKeyFromBody(parseBody(createKeySchema, request.body)));
        await gatekeeper.keyChanged(created.record.id);
        request.log.info({ keyId: created.record.id, name: created.record.name }, "api key created");
        return reply.code(201).send({ ...keyToWire(created.record), secret: created.secret });
      });

      admin.get("/keys", async () => ({ object: "list", data: (await store.keys.list()).map(keyToWire) }));

      admin.get<{ Params: { id: string } }>("/keys/:id", async (request) => {
        const id = keyIdParam(request.params);
        const key = await store.keys.get(id);
        if (key === null) throw notFound(id);
        const [usage] = await store.ledger.usage({ keyId: key.id });
        return { ...keyToWire(key), usage: usage === undefined ? null : usageToWire(usage) };
      });

      admin.patch<{ Params: { id: string } }>("/keys/:id", async (request) => {
        const id = keyIdParam(request.params);
        const change = keyUpdateFromBody(parseBody(updateKeySchema, request.body));
        const key = await store.keys.update(id, change);
        if (key === null) throw notFound(id);
        await gatekeeper.keyChanged(key.id);
        request.log.info({ keyId: key.id }, "api key updated");
        return keyToWire(key);
      });

      const revoke = async (id: string): Promise<Record<string, unknown>> => {
        const key = await store.keys.revoke(id);
        if (key === null) throw notFound(id);
        await gatekeeper.keyChanged(key.id);
        return keyToWire(key);
      };
      admin.post<{ Params: { id: string } }>("/keys/:id/revoke", async (request) => {
        const key = await revoke(keyIdParam(request.params));
        request.log.info({ keyId: request.params.id }, "api key revoked");
        return key;
      });
      admin.delete<{ Params: { id: string } }>("/keys/:id", async (request) => {
        const key = await revoke(keyIdParam(request.params));
        request.log.info({ keyId: request.params.id }, "api key revoked");
        return key;
      });

      admin.get("/models", async () => {
        const snapshot = deps.deployments();
        return {
          object: "list",
          data: deps.registry.publicIds().map(({ id, engine }) => {
            const mine = engine.upstreamDeployments?.() ?? [];
            return {
              id,
              kind: id !== engine.card.id ? "alias" : engine.kind,
              alias_of: id !== engine.card.id ? engine.card.id : null,
              context_length: engine.card.contextLength,
              owned_by: engine.card.ownedBy,
              load: engine.load(),
              kv_cache: kvCacheWire(engine.kvCache?.() ?? null),
              deployments: snapshot
                .filter((d) => mine.some((m) => m.provider === d.provider && m.model === d.model))
                .map((d) => ({
                  provider: d.provider,
                  model: d.model,
                  outstanding: d.outstanding,
                  breaker: d.breaker,
                  healthy: d.healthy,
                  requests: d.requests,
                  failures: d.failures,
                })),
            };
          }),
        };
      });

      admin.get("/stats", async () => ({ inflight: app.inflight.size, ...deps.metrics.stats(deps.registry) }));

      admin.get("/usage", async (request) => {
        const q = parseBody(usageQuerySchema, request.query);
        const query: UsageQuery = { keyId: q.key, model: q.model, from: q.from, to: q.to, groupBy: q.group_by };
        const rows = await store.ledger.usage(query);
        return { object: "list", group_by: q.group_by ?? null, data: rows.map(usageToWire) };
      });
    },
    { prefix: "/admin" },
  );
}

/** A local model's KV cache as `/admin/models` shows it: cells held and in all, `--ctx × --parallel`, its type and memory. */
function kvCacheWire(kv: KvCacheReport | null): Record<string, unknown> | null {
  if (kv === null) return null;
  return {
    used: kv.used,
    size: kv.size,
    sequences: kv.sequences,
    context_per_sequence: kv.contextPerSequence,
    type: kv.type,
    bytes: kv.bytes,
    bytes_per_sequence: kv.bytesPerSequence,
  };
}
