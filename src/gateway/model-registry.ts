/**
 * Public model ids → the engine that serves each: local llama.cpp models and
 * upstream models alike, plus aliases (`gpt-4` → a served model) and
 * fallback chains (tried when a model refuses a prompt as too long).
 */
import type { ModelPrices } from "../config.js";
import { modelNotFound } from "../protocol/errors.js";
import type { Engine } from "../engines/engine.js";

/** A public id looked up once: the engine serving it, the served model's id and its prices. */
export interface ModelRoute {
  /** The id as the client named it (a served model or an alias). */
  id: string;
  /** The served model it names. */
  canonical: string;
  engine: Engine;
  prices: ModelPrices | undefined;
}

export class ModelRegistry {
  private readonly engines = new Map<string, Engine>();
  private readonly priceList = new Map<string, ModelPrices>();
  private readonly aliases = new Map<string, string>();
  private readonly fallbackChains = new Map<string, string[]>();

  add(engine: Engine, prices?: ModelPrices): void {
    if (this.engines.has(engine.card.id) || this.aliases.has(engine.card.id)) throw new Error(`Duplicate model id: ${engine.card.id}`);
    this.engines.set(engine.card.id, engine);
    if (prices !== undefined) this.priceList.set(engine.card.id, prices);
  }

  addAlias(alias: string, target: string): void {
    if (this.engines.has(alias) || this.aliases.has(alias)) throw new Error(`Duplicate model id: ${alias}`);
    if (!this.engines.has(target)) throw new Error(`Alias ${alias} points to unknown model ${target}`);
    this.aliases.set(alias, target);
  }

  setFallbacks(model: string, chain: readonly string[]): void {
    this.fallbackChains.set(this.canonical(model), chain.map((id) => this.canonical(id)));
  }

  /** The served model an id names (itself, or an alias's target). */
  canonical(id: string): string {
    return this.aliases.get(id) ?? id;
  }

  /** USD per million tokens for a model, from the config; undefined = free. */
  prices(id: string): ModelPrices | undefined {
    return this.priceList.get(this.canonical(id));
  }

  /** The engine for `id` (aliases followed), or a 404 model_not_found ApiError. */
  resolve(id: string): Engine {
    const engine = this.engines.get(this.canonical(id));
    if (engine === undefined) throw modelNotFound(id);
    return engine;
  }

  /** Everything a request needs to know about a model id, or null when no model has it. */
  lookup(id: string): ModelRoute | null {
    const canonical = this.canonical(id);
    const engine = this.engines.get(canonical);
    return engine === undefined ? null : { id, canonical, engine, prices: this.priceList.get(canonical) };
  }

  tryResolve(id: string): Engine | null {
    return this.engines.get(this.canonical(id)) ?? null;
  }

  /** Models to try, in order, when `id` refuses a prompt as too long for its context. */
  fallbacks(id: string): string[] {
    return this.fallbackChains.get(this.canonical(id)) ?? [];
  }

  /** Every public id with its engine: served models, then aliases. */
  publicIds(): Array<{ id: string; engine: Engine }> {
    return [
      ...[...this.engines.values()].map((engine) => ({ id: engine.card.id, engine })),
      ...[...this.aliases].map(([id, target]) => ({ id, engine: this.resolve(target) })),
    ];
  }

  list(): Engine[] {
    return [...this.engines.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.list().map((e) => e.close()));
    this.engines.clear();
  }
}
