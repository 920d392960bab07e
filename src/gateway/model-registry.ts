/**
 * Public model ids → the engine that serves each. Today every engine is a
 * local llama.cpp model; upstream providers register here the same way.
 */
import { modelNotFound } from "../protocol/errors.js";
import type { Engine } from "../engines/engine.js";

export class ModelRegistry {
  private readonly engines = new Map<string, Engine>();

  add(engine: Engine): void {
    if (this.engines.has(engine.card.id)) throw new Error(`Duplicate model id: ${engine.card.id}`);
    this.engines.set(engine.card.id, engine);
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
