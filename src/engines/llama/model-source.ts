/**
 * Where a model comes from: a local `.gguf` path, or `hf:owner/repo/file.gguf`
 * (or an https URL) downloaded once into the cache directory — resumable, with
 * a progress bar — and found there on later starts without the network.
 * HF_ENDPOINT / MODEL_ENDPOINT select a Hugging Face mirror.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { resolveModelFile } from "node-llama-cpp";

export function isRemoteSource(source: string): boolean {
  return source.startsWith("hf:") || /^https?:\/\//.test(source);
}

export class ModelSourceError extends Error {
  override name = "ModelSourceError";
}

export interface DownloadOptions {
  cacheDir: string;
  /** Draw node-llama-cpp's progress bar (only on a TTY). */
  progressBar: boolean;
  /** Called as bytes arrive, e.g. to log progress when there is no TTY. */
  onProgress?: (downloaded: number, total: number) => void;
  /** Give up when no byte has arrived for this long (unreachable hub, dead mirror). */
  stallSeconds: number;
}

/** Resolve a model source to a local file path, downloading it if needed. */
export async function resolveModelSource(source: string, options: DownloadOptions): Promise<string> {
  if (!isRemoteSource(source)) {
    const file = path.resolve(source);
    const stat = await fs.stat(file).catch(() => null);
    if (stat === null || !stat.isFile()) throw new ModelSourceError(`Model file not found: ${file}`);
    return file;
  }
  await fs.mkdir(options.cacheDir, { recursive: true });
  const abort = new AbortController();
  let lastByteAt = Date.now();
  let watchdog: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    watchdog = setInterval(() => {
      if (Date.now() - lastByteAt < options.stallSeconds * 1000) return;
      const err = new Error(`no data received for ${options.stallSeconds} s`);
      abort.abort(err);
      reject(err);
    }, 250);
  });
  try {
    // Partial downloads live in `<file>.ipull` until complete, so a file under the
    // final name is whole and is returned without contacting the hub.
    const download = resolveModelFile(source, {
      directory: options.cacheDir,
      cli: options.progressBar,
      deleteTempFileOnCancel: false,
      signal: abort.signal,
      onProgress: ({ downloadedSize, totalSize }) => {
        lastByteAt = Date.now();
        options.onProgress?.(downloadedSize, totalSize);
      },
    });
    return await Promise.race([download, stalled]);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ModelSourceError(
      `Could not download ${source} into ${options.cacheDir}: ${reason}. ` +
        "If this machine is offline, download the .gguf elsewhere and pass it as --model ID=/path/to/file.gguf.",
      { cause: err },
    );
  } finally {
    clearInterval(watchdog);
  }
}
