/** The shell: login until a working admin key is stored, then the nav bar and the current page. */
import { useEffect, useMemo, useState } from "preact/hooks";
import { Api } from "./api.js";
import { ApiContext } from "./hooks.js";
import { Keys } from "./pages/Keys.js";
import { Login } from "./pages/Login.js";
import { Models } from "./pages/Models.js";
import { Overview } from "./pages/Overview.js";
import { Playground } from "./pages/Playground.js";
import { href, useRoute, type Route } from "./router.js";
import { clearKey, loadKey, saveKey } from "./session.js";

const titles: Record<Route, string> = { overview: "Overview", keys: "Keys", models: "Models", playground: "Playground" };

export function App() {
  const [key, setKey] = useState<string | null>(loadKey);
  const [notice, setNotice] = useState<string | null>(null);
  const route = useRoute();
  const api = useMemo(
    () =>
      key === null
        ? null
        : new Api(key, () => {
            // The server restarted with another key, say: back to the login page.
            clearKey();
            setKey(null);
            setNotice("The admin key was refused. Log in again.");
          }),
    [key],
  );

  useEffect(() => {
    document.title = api === null ? "chatport · log in" : `chatport · ${titles[route]}`;
  }, [api, route]);

  if (api === null) {
    return (
      <Login
        notice={notice}
        onLogin={(value) => {
          saveKey(value);
          setNotice(null);
          setKey(value);
        }}
      />
    );
  }

  const logout = (): void => {
    clearKey();
    setKey(null);
    setNotice(null);
  };

  return (
    <ApiContext.Provider value={api}>
      <div class="shell">
        <header class="topbar">
          <a class="brand" href={href("overview")}>
            <span class="brand-mark" aria-hidden="true">◆</span> chatport
          </a>
          <nav class="nav" aria-label="Pages">
            {(Object.keys(titles) as Route[]).map((name) => (
              <a key={name} href={href(name)} class={route === name ? "active" : ""} data-testid={`nav-${name}`} aria-current={route === name ? "page" : undefined}>
                {titles[name]}
              </a>
            ))}
          </nav>
          <button type="button" class="button ghost" data-testid="logout" onClick={logout}>
            Log out
          </button>
        </header>
        <main class="page" data-testid={`page-${route}`}>
          {route === "overview" && <Overview />}
          {route === "keys" && <Keys />}
          {route === "models" && <Models />}
          {route === "playground" && <Playground />}
        </main>
      </div>
    </ApiContext.Provider>
  );
}
