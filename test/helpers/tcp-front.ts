/**
 * A TCP front for tests of dropped connections and restarts: clients dial one fixed
 * URL while the relay behind it is cut off (`cut`) or replaced by one on another port
 * (`retarget`). Closed at teardown.
 */
import type { ExecutionContext } from 'ava';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpFront {
  port: number;
  /** ws://127.0.0.1:<port> */
  url: string;
  /** Drop every connection through it; it keeps listening. */
  cut(): void;
  /** New connections go to this port from now on. */
  retarget(port: number): void;
  close(): Promise<void>;
}

export async function tcpFront(t: ExecutionContext, targetPort = 0, port = 0): Promise<TcpFront> {
  let target = targetPort;
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(target, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  const close = () => new Promise<void>((resolve) => {
    cut();
    server.close(() => resolve());
  });
  t.teardown(close);
  const bound = (server.address() as AddressInfo).port;
  return { port: bound, url: `ws://127.0.0.1:${bound}`, cut, retarget: (p) => void (target = p), close };
}
