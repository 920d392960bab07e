/**
 * Public model ids → the engine that serves each. Today every engine is a
 * local llama.cpp model; upstream providers register here the same way.
 */
import type { ModelPrices } from "../config.js";
import { modelNotFound } from "../protocol/errors.js";
import type { Engine } from "../engines/engine.js";

export class ModelRegistry {
  private readonly engines = new Map<string, Engine>();
  private readonly priceList = new Map<string, ModelPrices>();

  add(engine: Engine, prices?: ModelPrices): void {
    if (this.engines.has(engine.card.id)) throw new Error(`Duplicate model id: ${engine.card.id}`);
    this.engines.set(engine.card.id, engine);
    if (prices !== undefined) this.priceList.set(engine.card.id, prices);
  }

  /** USD per million tokens for a model, from the config; undefined = free. */
  prices(id: string): ModelPrices | undefined {
    return this.priceList.get(id);
  }

  /** The engine for `id`, or a 404 model_not_found ApiError. */
  resolve(id: string): Engine {
    const engine = this.engines.get(id);
    if (engine === undefined) throw modelNotFound(id);
    return engine;
  }

  list(): Engine[] {
    return [...this.engines.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.list().map((e) => e.close()));
    this.engines.clear();
  }
}
