/** Reads a raw SSE response into its `data:` payloads, checking the framing byte for byte. */
export interface SseCapture {
  raw: string;
  payloads: string[];
}

export async function readSse(response: Response): Promise<SseCapture> {
  const raw = await response.text();
  if (!raw.endsWith("\n\n")) throw new Error(`SSE stream does not end with a blank line: ${JSON.stringify(raw.slice(-80))}`);
  const events = raw.slice(0, -2).split("\n\n");
  const payloads = events.map((event) => {
    if (!event.startsWith("data: ") || event.includes("\n")) throw new Error(`malformed SSE event: ${JSON.stringify(event.slice(0, 200))}`);
    return event.slice("data: ".length);
  });
  return { raw, payloads };
}
