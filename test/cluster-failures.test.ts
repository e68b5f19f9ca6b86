/**
 * The cluster when things fail: a relay killed with -9, and Redis stopped and started
 * again. The relays are `agentchat serve --redis` processes, as a hoster runs them.
 */
import type { ExecutionContext } from 'ava';
import { startServe } from './helpers/cli.js';
import { redisTest as test, startRedis } from './helpers/redis.js';
import { connectAs, expectRefused } from './helpers/relay-client.js';

/** Liveness scaled down (the defaults clean up within 30 s): a relay silent 1 s is dead. */
const FAST = JSON.stringify({ cluster: { heartbeatMs: 100, deadAfterMs: 1_000 }, limits: { maxConnsPerIp: 0, connRatePerIp: 0, maxSessionsPerIp: 0 } });

const serveOn = (t: ExecutionContext, redis: string, name: string) =>
  startServe(t, ['--redis', redis, '--name', name, '--plugin-options', FAST]);

/** Two `serve --redis` relays on a Redis of the test's own, alice on one and bob on the other, both in #general. */
async function twoRelays(t: ExecutionContext, options: { appendOnly?: boolean } = {}) {
  const redis = await startRedis(t, options);
  const a = await serveOn(t, redis.url, 'relay-a');
  const b = await serveOn(t, redis.url, 'relay-b');
  const alice = await connectAs(t, a.port, 'alice');
  const bob = await connectAs(t, b.port, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  return { redis, a, b, alice, bob };
}

async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; reason?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; reason?: string } };
}

/** Ask until `check` holds; each try waits for an answer (no fixed sleeps), bounded in count. */
async function eventually<T>(ask: () => Promise<T>, check: (value: T) => boolean, what: string, tries = 400): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await ask();
    if (check(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${what} never happened; last: ${JSON.stringify(last)}`);
}

test('a relay killed with -9: its sessions leave presence on the others, with AGENT_LEFT, well within 30 s', async (t) => {
  const { a, b, alice, bob } = await twoRelays(t);
  await alice.next('AGENT_JOINED', (f) => f.agent === bob.agentId);
  const killedAt = Date.now();
  b.child.kill('SIGKILL');
  await b.exited;
  const left = await alice.next('AGENT_LEFT', (f) => f.agent === bob.agentId, 30_000);
  t.is(left.channel, '#general');
  t.true(Date.now() - killedAt < 30_000);
  alice.send({ type: 'LIST_AGENTS', channel: '#general' });
  t.deepEqual((await alice.next('AGENTS')).list, [alice.agentId], 'presence healed');
  alice.send({ type: 'MSG', to: bob.agentId, content: 'are you there?' });
  await expectRefused(t, alice, 'AGENT_NOT_FOUND');
});

test('Redis down: sockets stay, what needs Redis is refused with UNAVAILABLE, /readyz says why; Redis back: the relays resync and serve again', async (t) => {
  const { redis, a, b, alice, bob } = await twoRelays(t, { appendOnly: true });
  t.is((await readyz(a.port)).status, 200);

  await redis.stop();
  await eventually(() => readyz(a.port), (r) => r.status === 503, '/readyz turning 503');
  const down = await readyz(a.port);
  t.regex(String(down.body.reason), /Redis/);
  alice.send({ type: 'MSG', to: '#general', content: 'lost?' });
  const refused = await alice.error('UNAVAILABLE');
  t.regex(String(refused.message), /Redis/);
  // Local work goes on: the socket is open and answers.
  t.is((await alice.ping()).type, 'PONG');
  t.is(bob.pending('MSG').length, 0, 'nothing refused was delivered');

  await redis.start();
  await eventually(() => readyz(a.port), (r) => r.status === 200, '/readyz turning 200 again');
  await eventually(() => readyz(b.port), (r) => r.status === 200, '/readyz of relay b turning 200 again');
  // Resubscribed: a message crosses again (retried until the subscription is back, each try answered).
  const content = 'back';
  await eventually(async () => {
    alice.send({ type: 'MSG', to: '#general', content });
    const answer = await alice.next(['MSG', 'ERROR']);
    return answer.type === 'MSG';
  }, (ok) => ok, 'a message accepted after Redis returned');
  const got = await bob.next('MSG', (f) => f.content === content, 10_000);
  t.is(got.from, alice.agentId);
  bob.send({ type: 'LIST_AGENTS', channel: '#general' });
  t.deepEqual([...((await bob.next('AGENTS')).list as string[])].sort(), [alice.agentId, bob.agentId].sort(), 'presence written back');
});

test('serve --redis refuses a bad URL and --memory with it, in one line each', async (t) => {
  const { runCli } = await import('./helpers/cli.js');
  const bad = await runCli(t, ['serve', '--port', '0', '--redis', 'localhost:6379']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--redis must be a redis:\/\/ or rediss:\/\/ URL/);
  const both = await runCli(t, ['serve', '--port', '0', '--redis', 'redis://127.0.0.1:1', '--memory']);
  t.is(both.code, 2);
  t.regex(both.stderr, /--redis keeps the state in Redis/);
  const unreachable = await runCli(t, ['serve', '--port', '0', '--host', '127.0.0.1', '--redis', 'redis://127.0.0.1:1']);
  t.not(unreachable.code, 0);
  t.regex(unreachable.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  t.is(unreachable.stderr.split('\n').filter((line) => line.startsWith('error:')).length, 1, 'one error line');
  t.regex(unreachable.stderr, /ECONNREFUSED/, 'saying why');
});

test('with AOF, a Redis restart loses no acknowledged channel, invitation, proposal or message: a fresh relay finds them all', async (t) => {
  const { startRelay, newKeyPair } = await import('./helpers/relay-client.js');
  const { proposalSigningString, signString } = await import('../protocol/index.js');
  const redis = await startRedis(t, { appendOnly: true });
  const options = { redis: redis.url, pluginOptions: { limits: { maxConnsPerIp: 0, connRatePerIp: 0, maxSessionsPerIp: 0 } } };
  const first = await startRelay(t, options);
  const aliceKeys = newKeyPair();
  const bobKeys = newKeyPair();
  const alice = await connectAs(t, first, 'alice', aliceKeys);
  const bob = await connectAs(t, first, 'bob', bobKeys);
  alice.send({ type: 'CREATE_CHANNEL', channel: '#vault', invite_only: true });
  await alice.next('JOINED');
  alice.send({ type: 'INVITE', channel: '#vault', agent: bob.agentId });
  await alice.next('INVITED');
  alice.send({ type: 'MSG', to: '#vault', content: 'kept' });
  await alice.next('MSG');
  const fields = { to: bob.agentId, task: 'survive a restart' };
  alice.send({ type: 'PROPOSAL', ...fields, sig: signString(aliceKeys.privateKey, proposalSigningString(fields)) });
  const id = (await alice.next('PROPOSAL')).id;
  await first.close();
  await redis.kill();
  await redis.start();

  const second = await startRelay(t, options);
  const bobAgain = await connectAs(t, second, 'bob', bobKeys);
  const joined = await bobAgain.join('#vault');
  t.is(joined.channel, '#vault', 'the invite-only channel and the invitation are back');
  t.is((await bobAgain.next('MSG')).content, 'kept', 'and its history');
  bobAgain.send({ type: 'LIST_PROPOSALS' });
  const listed = (await bobAgain.next('PROPOSALS')).list as Array<{ id: string; status: string }>;
  t.deepEqual(listed.map((p) => [p.id, p.status]), [[id, 'pending']], 'and the proposal');
});
