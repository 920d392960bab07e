/**
 * Where a model comes from: a local `.gguf` path, or `hf:owner/repo/file.gguf`
 * (or an https URL) downloaded once into the cache directory — resumable, with
 * a progress bar — and found there on later starts without the network.
 * HF_ENDPOINT / MODEL_ENDPOINT select a Hugging Face mirror.
 */
import fs from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { resolveModelFile } from "node-llama-cpp";

/** How long the reachability check before a download waits for a TCP connection to the hub. */
const CONNECT_CHECK_MS = 5_000;

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
  /** Told once, before anything goes over the network, what will be fetched from where. */
  onFetch?: (fetch: { source: string; host: string; cacheDir: string }) => void;
}

/**
 * The host a remote source is fetched from: the URL's, or for `hf:` the
 * Hugging Face endpoint node-llama-cpp uses (MODEL_ENDPOINT, else
 * HF_ENDPOINT, else huggingface.co).
 */
export function sourceOrigin(source: string, env: NodeJS.ProcessEnv = process.env): URL {
  if (!source.startsWith("hf:")) return new URL(source);
  for (const endpoint of [env.MODEL_ENDPOINT, env.HF_ENDPOINT]) {
    if (endpoint !== undefined && URL.canParse(endpoint)) return new URL(endpoint);
  }
  return new URL("https://huggingface.co/");
}

/** Resolves when a TCP connection to the origin opens; rejects at once on no route, refusal or an unknown name, and after CONNECT_CHECK_MS. */
async function checkReachable(origin: URL): Promise<void> {
  const port = origin.port !== "" ? Number(origin.port) : origin.protocol === "https:" ? 443 : 80;
  const host = origin.hostname.replace(/^\[|\]$/g, "");
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: CONNECT_CHECK_MS });
    socket.once("connect", () => {
      socket.destroy();
      resolve();
    });
    socket.once("timeout", () => {
      socket.destroy();
      reject(new Error(`no connection to ${origin.host} within ${CONNECT_CHECK_MS / 1000} s`));
    });
    socket.once("error", (err: NodeJS.ErrnoException) => reject(new Error(`cannot reach ${origin.host}: ${err.code ?? err.message}`)));
  });
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
  // A whole file under its final name is used without contacting the hub.
  const cached = await resolveModelFile(source, { directory: options.cacheDir, download: false, cli: false }).catch(() => null);
  if (cached !== null) return cached;
  const origin = sourceOrigin(source);
  options.onFetch?.({ source, host: origin.host, cacheDir: options.cacheDir });
  try {
    await checkReachable(origin);
  } catch (err) {
    throw downloadError(source, options.cacheDir, err);
  }
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
    throw downloadError(source, options.cacheDir, err);
  } finally {
    clearInterval(watchdog);
  }
}

function downloadError(source: string, cacheDir: string, err: unknown): ModelSourceError {
  const reason = err instanceof Error ? err.message : String(err);
  return new ModelSourceError(
    `Could not download ${source} into ${cacheDir}: ${reason}. ` +
      "If this machine is offline, download the .gguf elsewhere and pass it as --model ID=/path/to/file.gguf.",
    { cause: err },
  );
}
