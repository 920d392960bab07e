/**
 * The admin dashboard: the built front end (dashboard/ → dist/dashboard/ by
 * `npm run build`) served at /dashboard/. Static files only; the page logs in
 * with the admin key itself and talks to /admin/* and /v1/*. Hashed assets
 * are cached for good, index.html never; a strict CSP keeps the page to its
 * own origin (no CDN, no fonts from elsewhere: it works offline).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";
import { ApiError } from "../../protocol/errors.js";

export interface DashboardOptions {
  /** The folder with the built index.html and assets/. */
  root: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Where the build puts the dashboard: dist/dashboard beside dist/server/ when
 * running the built server, and the checkout's dist/dashboard when running
 * from source (tsx).
 */
export function defaultDashboardRoot(): string {
  const fromSource = here.endsWith(path.join("src", "server", "routes"));
  return path.resolve(here, fromSource ? "../../../dist/dashboard" : "../../dashboard");
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

function secure(reply: FastifyReply): void {
  void reply.header("content-security-policy", CSP);
  void reply.header("x-content-type-options", "nosniff");
  void reply.header("referrer-policy", "no-referrer");
  void reply.header("x-frame-options", "DENY");
}

export function registerDashboard(app: FastifyInstance, options: DashboardOptions): void {
  const root = path.resolve(options.root);
  const indexPath = path.join(root, "index.html");

  app.get("/dashboard", async (request, reply) => {
    const query = request.url.includes("?") ? request.url.slice(request.url.indexOf("?")) : "";
    return reply.redirect(`/dashboard/${query}`, 302);
  });

  if (!fs.existsSync(indexPath)) {
    // A server built without the front end still says why there is no page.
    app.log.warn({ root }, "dashboard not built: /dashboard/ answers 503 (run `npm run build`)");
    app.get("/dashboard/*", async () => {
      throw new ApiError(503, "server_error", "The dashboard is not built on this server. Run `npm run build`.", {
        code: "dashboard_not_built",
      });
    });
    return;
  }

  void app.register(
    async (scope) => {
      scope.addHook("onSend", async (_request, reply, payload) => {
        secure(reply);
        return payload;
      });
      await scope.register(fastifyStatic, {
        root,
        prefix: "/",
        decorateReply: false,
        index: ["index.html"],
        cacheControl: false,
        etag: true,
        lastModified: true,
        dotfiles: "deny",
        setHeaders: (reply, filePath) => {
          const immutable = filePath.startsWith(path.join(root, "assets") + path.sep);
          void reply.header("cache-control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
        },
      });
      // Routes of the single-page app (/dashboard/keys) get the page; a missing asset stays a 404.
      scope.setNotFoundHandler(async (request, reply) => {
        const pathname = request.url.split("?")[0] ?? "";
        const isAsset = pathname.startsWith("/dashboard/assets/") || /\.[a-z0-9]+$/i.test(pathname);
        if ((request.method === "GET" || request.method === "HEAD") && !isAsset) {
          const html = await fs.promises.readFile(indexPath);
          return reply.code(200).type("text/html; charset=utf-8").header("cache-control", "no-cache").send(html);
        }
        const err = new ApiError(404, "invalid_request_error", `Unknown route: ${request.method} ${pathname}`, { code: "unknown_url" });
        return reply.code(404).send(err.toBody());
      });
    },
    { prefix: "/dashboard" },
  );
}
