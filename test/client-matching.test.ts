/** Request/answer matching against a scripted relay, for cases a real relay does not produce on demand. */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { AgentChatClient, AgentChatError } from '../client/index.js';

type Script = (frame: { type: string; [k: string]: unknown }, reply: (frame: object) => void, ws: WebSocket) => void;

/** A fake relay: WELCOMEs every IDENTIFY and hands other frames to `script`. */
async function fakeRelay(t: ExecutionContext, script: Script): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  t.teardown(() => new Promise<void>((resolve) => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => resolve());
  }));
  wss.on('connection', (ws) => {
    const reply = (frame: object) => ws.send(JSON.stringify({ ts: Date.now(), ...frame }));
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; name?: string };
      if (frame.type === 'IDENTIFY') reply({ type: 'WELCOME', agent_id: '@fake0001', server: 'fake', name: frame.name });
      else script(frame, reply, ws);
    });
  });
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

/** A client whose requests time out after `requestTimeoutMs`; connecting has all the time a loaded machine needs. */
async function connected(t: ExecutionContext, url: string, requestTimeoutMs = 2000): Promise<AgentChatClient> {
  const client = new AgentChatClient({ server: url, requestTimeoutMs, connectTimeoutMs: 30_000 });
  t.teardown(() => client.disconnect());
  await client.connect();
  return client;
}

test('a request with no answer times out naming what it waited for', async (t) => {
  const url = await fakeRelay(t, () => undefined);
  const client = await connected(t, url, 150);
  const err = await t.throwsAsync(client.join('#foo'), { instanceOf: AgentChatError });
  t.is(err?.code, 'TIMEOUT');
  t.is(err?.message, 'timed out after 150 ms waiting for JOINED #foo');
  const echo = await t.throwsAsync(client.send('#foo', 'hi'), { instanceOf: AgentChatError });
  t.is(echo?.message, 'timed out after 150 ms waiting for MSG echo to #foo');
});

test('a relay that never WELCOMEs makes connect time out', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  t.teardown(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const client = new AgentChatClient({ server: url, connectTimeoutMs: 150 });
  t.teardown(() => client.disconnect());
  const err = await t.throwsAsync(client.connect(), { instanceOf: AgentChatError });
  t.is(err?.message, `timed out after 150 ms waiting for WELCOME from ${url}`);
  t.false(client.connected);
});

test('answers arriving out of order still reach their own requests', async (t) => {
  const held: Array<() => void> = [];
  const url = await fakeRelay(t, (frame, reply) => {
    if (frame.type === 'WHOIS') held.push(() => reply({ type: 'WHOIS', agent: frame.agent, name: `n${String(frame.agent).slice(-1)}`, pubkey: null, verified: false }));
    if (held.length === 3) held.reverse().forEach((answer) => answer());
  });
  const client = await connected(t, url);
  const answers = await Promise.all(['@aaaaaaa1', '@aaaaaaa2', '@aaaaaaa3'].map((id) => client.whois(id)));
  t.deepEqual(answers.map((a) => [a.agent, a.name]), [['@aaaaaaa1', 'n1'], ['@aaaaaaa2', 'n2'], ['@aaaaaaa3', 'n3']]);
});

test('an ERROR with ref rejects the oldest request of that type; without ref the oldest of all', async (t) => {
  const url = await fakeRelay(t, (frame, reply) => {
    if (frame.type === 'LIST_CHANNELS') reply({ type: 'CHANNELS', list: [] });
    if (frame.type === 'JOIN' && frame.channel === '#refd') reply({ type: 'ERROR', code: 'NOT_INVITED', message: 'no', ref: 'JOIN' });
    if (frame.type === 'PING') reply({ type: 'ERROR', code: 'RATE_LIMITED', message: 'slow down', retry_after_ms: 700 });
  });
  const client = await connected(t, url, 500);
  const first = client.join('#first');
  const channels = client.listChannels();
  const refd = client.join('#refd');
  const [a, b, c] = await Promise.allSettled([first, channels, refd]);
  // The relay answers in order, so the ERROR for JOIN goes to the oldest JOIN still waiting.
  t.is(a.status === 'rejected' && (a.reason as AgentChatError).code, 'NOT_INVITED');
  t.is(b.status, 'fulfilled');
  t.is(c.status === 'rejected' && (c.reason as AgentChatError).code, 'TIMEOUT');

  const err = await t.throwsAsync(client.ping(), { instanceOf: AgentChatError });
  t.is(err?.code, 'RATE_LIMITED');
  t.is(err?.retry_after_ms, 700);
});

test('pending requests reject with DISCONNECTED when the connection drops', async (t) => {
  const url = await fakeRelay(t, (frame, _reply, ws) => {
    if (frame.type === 'JOIN') ws.terminate();
  });
  const client = await connected(t, url);
  const disconnected = once(client, 'disconnect');
  const err = await t.throwsAsync(client.join('#gone'), { instanceOf: AgentChatError });
  t.is(err?.code, 'DISCONNECTED');
  const [info] = await disconnected;
  t.false(info.willReconnect);
  t.false(client.connected);
});

test('frames of unknown types are emitted under their lowercased name and as frame', async (t) => {
  const url = await fakeRelay(t, (frame, reply) => {
    if (frame.type === 'PING') {
      reply({ type: 'SHINY_NEW', x: 1 });
      reply({ type: 'PONG' });
    }
  });
  const client = await connected(t, url);
  const types: string[] = [];
  client.on('frame', (f) => types.push(f.type));
  const shiny = once(client as unknown as NodeJS.EventEmitter, 'shiny_new');
  await client.ping();
  t.like((await shiny)[0], { type: 'SHINY_NEW', x: 1 });
  t.deepEqual(types, ['SHINY_NEW', 'PONG']);
});
