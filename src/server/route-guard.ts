/**
 * Authentication bound to routes, not to the spelling of a URL.
 *
 * The router decodes a request's path (`/%761/models` matches `/v1/models`),
 * so a check on the raw URL can be walked around. Instead each protected
 * route is registered inside an encapsulated scope whose `onRequest` hook
 * authenticates: the hook belongs to the route, so it runs for whatever
 * spelling the router matched. And so that a route cannot be added beside
 * its scope by mistake, every route whose pattern lies under a protected
 * prefix must come from a guarded scope, or the server refuses to start.
 */
import type { FastifyInstance, FastifyRequest, RouteOptions } from "fastify";

/** Throws (an ApiError) to refuse the request; may set what later handlers read (`request.caller`). */
export type Authenticate = (request: FastifyRequest) => Promise<void>;

export class RouteGuard {
  readonly #guarded = new WeakSet<RouteOptions>();
  readonly #protected: RouteOptions[] = [];

  /** `prefixes`: the route patterns (`/v1`, `/admin`) that may only be served by guarded scopes. */
  constructor(app: FastifyInstance, prefixes: readonly string[]) {
    const isProtected = (url: string): boolean =>
      prefixes.some((prefix) => url.toLowerCase() === prefix || url.toLowerCase().startsWith(`${prefix}/`));
    app.addHook("onRoute", (route) => {
      if (isProtected(route.url ?? "")) this.#protected.push(route);
    });
    app.addHook("onReady", async () => {
      const open = this.#protected.filter((route) => !this.#guarded.has(route));
      if (open.length > 0) {
        const names = open.map((route) => `${String(route.method)} ${route.url ?? ""}`).join(", ");
        throw new Error(`Routes under a protected prefix were registered outside an authenticated scope: ${names}`);
      }
    });
  }

  /** Every route registered in `scope` (and in scopes inside it) runs `authenticate` before anything else of its own. */
  guard(scope: FastifyInstance, authenticate: Authenticate): void {
    scope.addHook("onRoute", (route) => {
      this.#guarded.add(route);
    });
    scope.addHook("onRequest", authenticate);
  }
}
