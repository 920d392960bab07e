/**
 * Where a model comes from: a local `.gguf` path, or `hf:owner/repo/file.gguf`
 * downloaded once into the cache directory (resumable, with a progress bar).
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createModelDownloader } from "node-llama-cpp";

export function defaultCacheDir(): string {
  return process.env.CHATPORT_CACHE_DIR ?? path.join(os.homedir(), ".cache", "chatport", "models");
}

export function isRemoteSource(source: string): boolean {
  return source.startsWith("hf:") || /^https?:\/\//.test(source);
}

export class ModelSourceError extends Error {
  override name = "ModelSourceError";
}

/** Resolve a model source to a local file path, downloading it if needed. */
export async function resolveModelSource(source: string, cacheDir: string, showProgress: boolean): Promise<string> {
  if (!isRemoteSource(source)) {
    const file = path.resolve(source);
    const stat = await fs.stat(file).catch(() => null);
    if (stat === null || !stat.isFile()) throw new ModelSourceError(`Model file not found: ${file}`);
    return file;
  }
  await fs.mkdir(cacheDir, { recursive: true });
  try {
    const downloader = await createModelDownloader({
      modelUri: source,
      dirPath: cacheDir,
      showCliProgress: showProgress,
      skipExisting: true,
      deleteTempFileOnCancel: false,
    });
    return await downloader.download();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ModelSourceError(
      `Could not download ${source} into ${cacheDir}: ${reason}. ` +
        "If this machine is offline, download the .gguf elsewhere and pass it as --model ID=/path/to/file.gguf.",
    );
  }
}
