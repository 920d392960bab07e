/** The admin key, checked against /admin/keys before it is kept. */
import { useState } from "preact/hooks";
import { Api, ApiError } from "../api.js";

export function Login(props: { notice: string | null; onLogin: (key: string) => void }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const key = value.trim();
    if (key === "") {
      setError("Enter the admin key.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await new Api(key).verify();
      props.onLogin(key);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        setError(err.code === "admin_disabled" ? err.message : "That admin key was not accepted.");
      } else {
        setError(err instanceof Error ? err.message : String(err));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="login">
      <form class="card login-card" onSubmit={(e) => void submit(e)} data-testid="login-form">
        <h1>
          <span class="brand-mark" aria-hidden="true">◆</span> chatport
        </h1>
        <p class="muted">Admin dashboard. Log in with the server's admin key (<code>--admin-key</code>).</p>
        {props.notice !== null && <p class="notice">{props.notice}</p>}
        <label class="field">
          <span>Admin key</span>
          <input
            type="password"
            autoComplete="current-password"
            autoFocus
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
            data-testid="login-key"
            placeholder="sk-admin-…"
          />
        </label>
        {error !== null && (
          <p class="error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" class="button primary" disabled={busy} data-testid="login-submit">
          {busy ? "Checking…" : "Log in"}
        </button>
        <p class="muted small">The key is kept in this tab only (sessionStorage) and sent as a Bearer token.</p>
      </form>
    </div>
  );
}
