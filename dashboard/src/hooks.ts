/** Data loading for pages: one async call, its result or error, and a way to run it again. */
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";
import type { Api } from "./api.js";

export const ApiContext = createContext<Api | null>(null);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (api === null) throw new Error("useApi outside a logged-in page");
  return api;
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs `load` on mount and whenever `deps` change; a stale answer never overwrites a newer one. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const generation = useRef(0);
  useEffect(() => {
    const mine = ++generation.current;
    setLoading(true);
    load().then(
      (value) => {
        if (generation.current !== mine) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (generation.current !== mine) return;
        setError(errorText(err));
        setLoading(false);
      },
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** Calls `tick` every `ms` while mounted (and once at once); skips a beat while one is still running. */
export function useInterval(tick: (signal: AbortSignal) => Promise<void>, ms: number): void {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    const controller = new AbortController();
    let running = false;
    const run = (): void => {
      if (running || document.hidden) return;
      running = true;
      saved.current(controller.signal).finally(() => {
        running = false;
      });
    };
    run();
    const timer = window.setInterval(run, ms);
    return () => {
      controller.abort();
      window.clearInterval(timer);
    };
  }, [ms]);
}
