/**
 * CEILING — bench only, never shipped, never imported by the relay.
 *
 * The least a relay can do on uWebSockets.js while speaking the protocol subset the bench uses:
 * parse the frame, publish to the topic. No validation, no rate limits, no plugins, no history.
 * Channel MSG: one app.publish (uWS native fan-out, sender included). DM: every socket is
 * subscribed to its own agent id topic; publish there and echo to the sender. JOIN answers
 * JOINED with the member list and publishes AGENT_JOINED to the others. Slow consumers
 * (> 1 MiB buffered) are closed, as the real relay does, so losses are visible, not silent.
 *
 * Usage: node bare-uws.js --port 0 --host 127.0.0.1
 * First stdout line: `bare-uws listening on ws://HOST:PORT`.
 */
import { randomBytes } from 'node:crypto';
import uWS from 'uWebSockets.js';

interface Session {
  id: string;
  channels: string[];
}

const SERVER_NAME = 'bare-uws';
const members = new Map<string, Set<string>>([
  ['#general', new Set()],
  ['#agents', new Set()],
]);
const decoder = new TextDecoder();

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

// The package silently falls back to a JS implementation when its binary does not load;
// a ceiling measured on that would be meaningless.
if (typeof (uWS as unknown as Record<string, unknown>).SSLApp !== 'function') {
  console.error('bare-uws: uWebSockets.js native binary did not load (JS fallback); refusing to run');
  process.exit(1);
}

const app = uWS.App();

function join(ws: uWS.WebSocket<Session>, s: Session, channel: string, set: Set<string>): void {
  if (!set.has(s.id)) {
    set.add(s.id);
    s.channels.push(channel);
    ws.subscribe(channel);
    // ws.publish skips the publisher itself: AGENT_JOINED goes to the others only.
    ws.publish(channel, JSON.stringify({ type: 'AGENT_JOINED', channel, agent: s.id, ts: Date.now() }));
  }
  ws.send(JSON.stringify({ type: 'JOINED', channel, agents: [...set], ts: Date.now() }));
}

app.ws<Session>('/*', {
  maxPayloadLength: 64 * 1024,
  maxBackpressure: 1024 * 1024,
  closeOnBackpressureLimit: 1,
  idleTimeout: 120,
  upgrade: (res, req, context) => {
    res.upgrade<Session>(
      { id: '', channels: [] },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  message: (ws, data) => {
    const s = ws.getUserData();
    let m: Record<string, string>;
    try {
      m = JSON.parse(decoder.decode(data));
    } catch {
      return;
    }
    switch (m.type) {
      case 'MSG': {
        const frame = JSON.stringify({ type: 'MSG', from: s.id, to: m.to, content: m.content, ts: Date.now() });
        app.publish(m.to, frame);
        if (m.to[0] === '@') ws.send(frame);
        return;
      }
      case 'IDENTIFY': {
        s.id = '@' + randomBytes(4).toString('hex');
        ws.subscribe(s.id);
        ws.send(JSON.stringify({ type: 'WELCOME', agent_id: s.id, server: SERVER_NAME, name: m.name, ts: Date.now() }));
        return;
      }
      case 'JOIN': {
        const set = members.get(m.channel);
        if (set) return join(ws, s, m.channel, set);
        ws.send(JSON.stringify({ type: 'ERROR', code: 'CHANNEL_NOT_FOUND', message: m.channel, ts: Date.now() }));
        return;
      }
      case 'CREATE_CHANNEL': {
        if (members.has(m.channel)) {
          ws.send(JSON.stringify({ type: 'ERROR', code: 'CHANNEL_EXISTS', message: m.channel, ts: Date.now() }));
          return;
        }
        const set = new Set<string>();
        members.set(m.channel, set);
        return join(ws, s, m.channel, set);
      }
    }
  },
  close: (_ws, _code, _message) => {
    // The socket is closed and unsubscribed already: publish via the app to the rest.
    const s = _ws.getUserData();
    for (const channel of s.channels) {
      members.get(channel)?.delete(s.id);
      app.publish(channel, JSON.stringify({ type: 'AGENT_LEFT', channel, agent: s.id, ts: Date.now() }));
    }
  },
});

const host = arg('--host', '127.0.0.1');
app.listen(host, Number(arg('--port', '0')), (listenSocket) => {
  if (!listenSocket) {
    console.error('bare-uws: listen failed');
    process.exit(1);
  }
  console.log(`${SERVER_NAME} listening on ws://${host}:${uWS.us_socket_local_port(listenSocket)}`);
});
process.on('SIGTERM', () => process.exit(0));
