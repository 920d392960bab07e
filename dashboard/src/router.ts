/** Hash routes (#/keys), so every page is served by the one index.html and reloads keep the page. */
import { useEffect, useState } from "preact/hooks";

export const routes = ["overview", "keys", "models", "playground"] as const;
export type Route = (typeof routes)[number];

function current(): Route {
  const name = window.location.hash.replace(/^#\/?/, "").split(/[/?]/)[0] ?? "";
  return (routes as readonly string[]).includes(name) ? (name as Route) : "overview";
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(current);
  useEffect(() => {
    const onChange = (): void => setRoute(current());
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

export function href(route: Route): string {
  return `#/${route}`;
}
