/**
 * Compiled grammars kept by a content key of what they were compiled from
 * (the schema, or the tools and their call syntax), the most recently used
 * {@link GrammarCacheOptions.capacity}: a client sending the same schema with
 * every request compiles it once. Requests arriving together for a schema
 * being compiled wait for that compile. A refused schema is not kept (the
 * next request is refused again by a fresh compile).
 */
import { performance } from "node:perf_hooks";
import type { LlamaGrammar } from "node-llama-cpp";
import type { GrammarKind } from "../engine.js";

export interface GrammarCacheOptions {
  capacity: number;
  /** Each compile that produced a grammar, with its wall time. */
  onCompiled?: (kind: GrammarKind, seconds: number) => void;
  /** Each lookup: served from the cache (`hit`) or compiled. */
  onLookup?: (kind: GrammarKind, hit: boolean) => void;
}

export class GrammarCache {
  private readonly entries = new Map<string, Promise<LlamaGrammar>>();

  constructor(private readonly options: GrammarCacheOptions) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, kind: GrammarKind, compile: () => Promise<LlamaGrammar>): Promise<LlamaGrammar> {
    const found = this.entries.get(key);
    this.options.onLookup?.(kind, found !== undefined);
    if (found !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, found);
      return found;
    }
    const start = performance.now();
    const compiled = compile().then((grammar) => {
      this.options.onCompiled?.(kind, (performance.now() - start) / 1000);
      return grammar;
    });
    this.entries.set(key, compiled);
    compiled.catch(() => {
      if (this.entries.get(key) === compiled) this.entries.delete(key);
    });
    if (this.entries.size > this.options.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return compiled;
  }
}
