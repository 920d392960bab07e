/**
 * One HTTP/1.1 request written byte for byte on a socket: the request target
 * goes out exactly as given (fetch and node:http would normalise or refuse
 * spellings like `/v1/./chat`, `//v1`, `/v1\chat` or an absolute-form target).
 */
import net from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export async function rawRequest(
  baseURL: string,
  method: string,
  target: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  const url = new URL(baseURL);
  const body = options.body ?? "";
  const headers: Record<string, string> = { host: url.host, connection: "close", ...options.headers };
  if (body !== "" || method === "POST") headers["content-length"] = String(Buffer.byteLength(body));
  const head = [`${method} ${target} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join("\r\n");
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(`${head}\r\n\r\n${body}`));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => resolve(Buffer.concat(chunks)));
    socket.on("error", reject);
  });
  const split = raw.indexOf("\r\n\r\n");
  const [statusLine = "", ...headerLines] = raw.subarray(0, split < 0 ? raw.length : split).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
  const parsed: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = split < 0 ? Buffer.alloc(0) : raw.subarray(split + 4);
  return { status, headers: parsed, body: (parsed["transfer-encoding"] === "chunked" ? dechunk(rest) : rest).toString("utf8") };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = parseInt(data.subarray(at, eol).toString("latin1"), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
