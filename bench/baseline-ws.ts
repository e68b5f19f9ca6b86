/**
 * BASELINE — bench only, never shipped, never imported by the relay.
 *
 * A small relay on the `ws` library speaking the protocol subset the bench uses (IDENTIFY/WELCOME,
 * CREATE_CHANNEL/JOIN/JOINED/AGENT_JOINED, channel MSG to every member including the sender, DMs
 * with an echo). It is the architecture most Node relays use today, agentchat 0.3.x among them:
 * a Map of channels to Sets of sockets and a JS loop over the members for every message.
 * It serializes each message once (0.3.x serializes per recipient), so it is the kinder
 * version of that architecture and the ratios against it are, if anything, conservative.
 * Like the real relay it closes a consumer with more than 1 MiB buffered.
 *
 * Usage: node baseline-ws.js --port 0 --host 127.0.0.1
 * First stdout line: `ws-baseline listening on ws://HOST:PORT`.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

const SERVER_NAME = 'ws-baseline';
const SLOW_CONSUMER_BYTES = 1024 * 1024;
const MAX_CONTENT = 4096;
const NAME = /^[A-Za-z0-9_-]{1,32}$/;
const CHANNEL = /^#[A-Za-z0-9_-]{1,31}$/;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

interface Session {
  ws: WebSocket;
  id: string | null;
  name: string;
  channels: Set<string>;
}

const sessions = new Map<string, Session>();
const channels = new Map<string, Set<Session>>([
  ['#general', new Set()],
  ['#agents', new Set()],
]);

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function newAgentId(): string {
  for (;;) {
    const bytes = randomBytes(8);
    let id = '@';
    for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
    if (!sessions.has(id)) return id;
  }
}

function deliver(s: Session, frame: string): void {
  if (s.ws.readyState !== 1) return;
  if (s.ws.bufferedAmount > SLOW_CONSUMER_BYTES) {
    s.ws.terminate();
    return;
  }
  s.ws.send(frame);
}

function reply(s: Session, msg: Record<string, unknown>): void {
  msg.ts = Date.now();
  deliver(s, JSON.stringify(msg));
}

function error(s: Session, code: string, message: string): void {
  reply(s, { type: 'ERROR', code, message });
}

/** One serialization, then a JS loop over the members: the architecture being measured. */
function broadcast(members: Set<Session>, msg: Record<string, unknown>, except?: Session): void {
  msg.ts = Date.now();
  const frame = JSON.stringify(msg);
  for (const m of members) if (m !== except) deliver(m, frame);
}

function join(s: Session, channel: string, members: Set<Session>): void {
  if (!members.has(s)) {
    members.add(s);
    s.channels.add(channel);
    broadcast(members, { type: 'AGENT_JOINED', channel, agent: s.id }, s);
  }
  const agents: string[] = [];
  for (const m of members) agents.push(m.id as string);
  reply(s, { type: 'JOINED', channel, agents });
}

function leave(s: Session, channel: string): void {
  const members = channels.get(channel);
  if (!members || !members.delete(s)) return;
  s.channels.delete(channel);
  broadcast(members, { type: 'AGENT_LEFT', channel, agent: s.id });
}

function onFrame(s: Session, data: RawData, isBinary: boolean): void {
  if (isBinary) return error(s, 'INVALID_MSG', 'binary frames are not accepted');
  let m: unknown;
  try {
    m = JSON.parse(data.toString());
  } catch {
    return error(s, 'INVALID_MSG', 'not JSON');
  }
  if (typeof m !== 'object' || m === null) return error(s, 'INVALID_MSG', 'not an object');
  const msg = m as Record<string, unknown>;
  if (msg.type === 'IDENTIFY') {
    if (s.id) return error(s, 'INVALID_MSG', 'already identified');
    if (typeof msg.name !== 'string' || !NAME.test(msg.name)) return error(s, 'INVALID_NAME', 'bad name');
    s.id = newAgentId();
    s.name = msg.name;
    sessions.set(s.id, s);
    return reply(s, { type: 'WELCOME', agent_id: s.id, server: SERVER_NAME, name: s.name });
  }
  if (!s.id) return error(s, 'AUTH_REQUIRED', 'IDENTIFY first');
  switch (msg.type) {
    case 'MSG': {
      const { to, content } = msg;
      if (typeof to !== 'string' || typeof content !== 'string' || content.length > MAX_CONTENT) {
        return error(s, 'INVALID_MSG', 'MSG needs to and content (<= 4096 chars)');
      }
      const out = { type: 'MSG', from: s.id, to, content };
      if (to.startsWith('#')) {
        const members = channels.get(to);
        if (!members) return error(s, 'CHANNEL_NOT_FOUND', `no channel ${to}`);
        if (!members.has(s)) return error(s, 'NOT_INVITED', `not a member of ${to}`);
        return broadcast(members, out);
      }
      const target = sessions.get(to);
      if (!target) return error(s, 'AGENT_NOT_FOUND', `no agent ${to}`);
      (out as Record<string, unknown>).ts = Date.now();
      const frame = JSON.stringify(out);
      deliver(target, frame);
      if (target !== s) deliver(s, frame);
      return;
    }
    case 'JOIN': {
      const channel = msg.channel;
      if (typeof channel !== 'string' || !CHANNEL.test(channel)) return error(s, 'INVALID_NAME', 'bad channel');
      const members = channels.get(channel);
      if (!members) return error(s, 'CHANNEL_NOT_FOUND', `no channel ${channel}`);
      return join(s, channel, members);
    }
    case 'CREATE_CHANNEL': {
      const channel = msg.channel;
      if (typeof channel !== 'string' || !CHANNEL.test(channel)) return error(s, 'INVALID_NAME', 'bad channel');
      if (channels.has(channel)) return error(s, 'CHANNEL_EXISTS', `${channel} exists`);
      const members = new Set<Session>();
      channels.set(channel, members);
      return join(s, channel, members);
    }
    case 'LEAVE':
      if (typeof msg.channel === 'string') leave(s, msg.channel);
      return reply(s, { type: 'LEFT', channel: msg.channel });
    case 'PING':
      return reply(s, { type: 'PONG' });
    default:
      return error(s, 'INVALID_MSG', `unknown type ${String(msg.type)}`);
  }
}

function onClose(s: Session): void {
  for (const channel of [...s.channels]) leave(s, channel);
  if (s.id) sessions.delete(s.id);
}

const host = arg('--host', '127.0.0.1');
const wss = new WebSocketServer({
  host,
  port: Number(arg('--port', '0')),
  maxPayload: 64 * 1024,
  perMessageDeflate: false,
  clientTracking: false,
});
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  console.log(`${SERVER_NAME} listening on ws://${host}:${port}`);
});
wss.on('connection', (ws) => {
  const s: Session = { ws, id: null, name: '', channels: new Set() };
  ws.on('message', (data, isBinary) => onFrame(s, data, isBinary));
  ws.on('close', () => onClose(s));
  ws.on('error', () => ws.terminate());
});
process.on('SIGTERM', () => process.exit(0));
