/** The browser transport: the native WebSocket behind the Transport interface. */
import type { Dial, Transport } from '../platform.js';

export const dialBrowser: Dial<never> = (url, events, options) => {
  const ws = new WebSocket(url);
  let done = false;
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  const finish = (code: number, reason: string): void => {
    if (done) return;
    done = true;
    clearTimeout(handshake);
    events.close(code, reason);
    resolveClosed();
  };
  // The browser has no handshake timeout of its own: a relay that never answers would hold connect() forever.
  const handshake = setTimeout(() => {
    if (ws.readyState === WebSocket.CONNECTING) {
      events.error(new Error(`no WebSocket handshake within ${options.handshakeTimeoutMs} ms`));
      ws.close();
      finish(1006, '');
    }
  }, options.handshakeTimeoutMs);
  ws.onopen = () => {
    clearTimeout(handshake);
    events.open();
  };
  ws.onmessage = (event: MessageEvent) => {
    if (typeof event.data === 'string') events.text(event.data);
  };
  // The browser says nothing more about why (on purpose); the close that follows carries the code.
  ws.onerror = () => events.error(new Error(`WebSocket error on ${url}`));
  ws.onclose = (event: CloseEvent) => finish(event.code, event.reason);
  const transport: Transport = {
    get isOpen() {
      return !done && ws.readyState === WebSocket.OPEN;
    },
    send: (text) => ws.send(text),
    close: (code) => ws.close(code),
    // No terminate in browsers: close, and report the end now rather than after the closing handshake.
    terminate: () => {
      ws.close();
      finish(1006, '');
    },
    closed,
  };
  return transport;
};
