/** The Node transport: a `ws` WebSocket behind the Transport interface. */
import WebSocket, { type ClientOptions, type RawData } from 'ws';
import type { Dial, Transport } from './platform.js';

export const dialWs: Dial<ClientOptions> = (url, events, options) => {
  const ws = new WebSocket(url, { handshakeTimeout: options.handshakeTimeoutMs, ...options.extra });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('open', () => events.open());
  ws.on('message', (data, isBinary) => {
    if (!isBinary) events.text(rawText(data));
  });
  ws.on('error', (err) => events.error(err));
  ws.on('close', (code, reason) => events.close(code, reason.toString()));
  const transport: Transport = {
    get isOpen() {
      return ws.readyState === WebSocket.OPEN;
    },
    send: (text) => ws.send(text),
    close: (code) => ws.close(code),
    terminate: () => ws.terminate(),
    closed,
  };
  return transport;
};

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
