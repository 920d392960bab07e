/**
 * A TCP proxy on 127.0.0.1 in front of a real service (PostgreSQL, Redis)
 * that a test can switch into a black hole and back: while black-holed,
 * connections stay open (new ones are accepted) but not a byte passes either
 * way — a network partition, which no error reveals. `restore()` heals it:
 * what was sent meanwhile is delivered, as TCP would after a partition.
 */
import net from "node:net";

export interface TcpProxy {
  port: number;
  /** `host:port` to put in a connection URL. */
  address: string;
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  upstream: net.Socket | null;
  /** Bytes held while black-holed, per direction. */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  let blackholed = false;
  const links = new Set<Link>();

  const flush = (link: Link): void => {
    if (link.upstream === null) connectUpstream(link);
    for (const chunk of link.toUpstream.splice(0)) link.upstream?.write(chunk);
    for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
  };

  const close = (link: Link): void => {
    links.delete(link);
    link.client.destroy();
    link.upstream?.destroy();
  };

  const connectUpstream = (link: Link): void => {
    const upstream = net.connect(targetPort, targetHost);
    link.upstream = upstream;
    upstream.on("data", (chunk: Buffer) => {
      if (blackholed) link.toClient.push(chunk);
      else link.client.write(chunk);
    });
    upstream.on("error", () => close(link));
    upstream.on("close", () => close(link));
  };

  const server = net.createServer((client) => {
    const link: Link = { client, upstream: null, toUpstream: [], toClient: [] };
    links.add(link);
    client.on("data", (chunk: Buffer) => {
      if (blackholed || link.upstream === null) link.toUpstream.push(chunk);
      else link.upstream.write(chunk);
    });
    client.on("error", () => close(link));
    client.on("close", () => close(link));
    if (!blackholed) flush(link);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    address: `127.0.0.1:${port}`,
    blackhole: () => {
      blackholed = true;
    },
    restore: () => {
      blackholed = false;
      for (const link of links) flush(link);
    },
    close: async () => {
      for (const link of [...links]) close(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
