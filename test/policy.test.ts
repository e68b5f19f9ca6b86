/**
 * The policy process (`serve --policy`, docs/POLICY.md): a Python policy refuses JOINs
 * and MSGs by rule; the relay fails closed when the policy hangs, answers garbage or
 * dies, restarts it, and keeps serving. Points it does not police are never sent.
 */
import test, { type ExecutionContext } from 'ava';
import { fileURLToPath } from 'node:url';
import { policy, type PolicyOptions } from '../plugins/index.js';
import { connect, connectAs, expectedAgentId, expectRefused, newKeyPair, startRelay, type RelayClient } from './helpers/relay-client.js';
import { startServe } from './helpers/cli.js';

const CHAOS = `python3 ${fileURLToPath(new URL('./fixtures/chaos-policy.py', import.meta.url))}`;

interface LogLine {
  event: string;
  [field: string]: unknown;
}

/** A relay running the chaos policy, with its log lines kept and awaitable. */
async function policed(t: ExecutionContext, options: PolicyOptions) {
  const lines: LogLine[] = [];
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: () => void }> = [];
  const relay = await startRelay(t, {
    extraPlugins: [policy()],
    pluginOptions: { policy: { command: CHAOS, ...options } },
    log: (text) => {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      for (const w of [...waiters]) if (w.match(line)) waiters.splice(waiters.indexOf(w), 1) && w.resolve();
    },
  });
  /** Resolves once `count` lines of `event` were logged (bounded by the test's timeout). */
  const logged = (event: string, count = 1) =>
    new Promise<void>((resolve) => {
      const seen = () => lines.filter((l) => l.event === event).length >= count;
      if (seen()) return resolve();
      waiters.push({ match: () => seen(), resolve });
    });
  return { relay, lines, logged };
}

async function member(t: ExecutionContext, relay: Parameters<typeof connectAs>[1], name: string): Promise<RelayClient> {
  const client = await connectAs(t, relay, name);
  await client.join('#general');
  return client;
}

test('serve --policy runs a Python policy that refuses JOINs and MSGs by rule, with its codes', async (t) => {
  const serve = await startServe(t, ['--policy', 'python3 examples/policy.py']);
  const alice = await connectAs(t, serve.port, 'alice');
  // Creating #staff joins its creator: the policy refuses that join, and no channel is left behind.
  alice.send({ type: 'CREATE_CHANNEL', channel: '#staff' });
  const refused = await alice.next('ERROR');
  t.like(refused, { code: 'NOT_STAFF', message: '#staff is for staff only', ref: 'CREATE_CHANNEL' });
  alice.send({ type: 'LIST_CHANNELS' });
  t.false(((await alice.next('CHANNELS')).list as Array<{ name: string }>).some((c) => c.name === '#staff'));
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'Buy now! Cheap!' });
  await expectRefused(t, alice, 'SPAM', 'MSG');
  alice.send({ type: 'MSG', to: '#general', content: 'hello, policed world' });
  t.is((await alice.next('MSG')).content, 'hello, policed world');
});

test('a policy that never answers fails closed with UNAVAILABLE at its timeout; the relay serves on', async (t) => {
  // Long enough that a loaded machine's policy still answers the accepted ones in time.
  const { relay } = await policed(t, { points: ['message'], timeoutMs: 1_000 });
  const alice = await member(t, relay, 'alice');
  alice.send({ type: 'MSG', to: '#general', content: 'hang' });
  const error = await expectRefused(t, alice, 'UNAVAILABLE', 'MSG');
  t.regex(String(error.message), /policy did not answer within 1000 ms/);
  alice.send({ type: 'MSG', to: '#general', content: 'after the hang' });
  t.is((await alice.next('MSG')).content, 'after the hang');
});

test('a policy that answers garbage, a wrong id or an unknown action fails closed, and the bad lines are logged', async (t) => {
  const { relay, lines, logged } = await policed(t, { points: ['message'], timeoutMs: 1_000 });
  const alice = await member(t, relay, 'alice');
  for (const content of ['garbage', 'wrong-id', 'bad-action']) {
    alice.send({ type: 'MSG', to: '#general', content });
    await expectRefused(t, alice, 'UNAVAILABLE', 'MSG');
  }
  await logged('policy_bad_answer', 3);
  t.deepEqual(lines.filter((l) => l.event === 'policy_bad_answer').map((l) => l.why), [
    'not JSON', 'no decision is waiting for this id', 'action is neither "accept" nor "reject"',
  ]);
  t.is(alice.pending('MSG').length, 0, 'nothing was relayed on a bad answer');
});

test('answers may come out of order: each is matched to its decision by id', async (t) => {
  const { relay } = await policed(t, { points: ['message'] });
  const alice = await member(t, relay, 'alice');
  const bob = await member(t, relay, 'bob');
  // alice's "later" is answered only after bob's message was decided.
  alice.send({ type: 'MSG', to: '#general', content: 'later' });
  bob.send({ type: 'MSG', to: '#general', content: 'from bob' });
  const seen = [(await alice.next('MSG')).content, (await alice.next('MSG')).content];
  t.deepEqual(seen, ['from bob', 'later']);
});

test('a policy that dies fails its decision closed, is restarted, and decides again', async (t) => {
  const { relay, logged, lines } = await policed(t, { points: ['message'] });
  const alice = await member(t, relay, 'alice');
  alice.send({ type: 'MSG', to: '#general', content: 'die' });
  const error = await expectRefused(t, alice, 'UNAVAILABLE', 'MSG');
  t.regex(String(error.message), /policy process (exited|is not running)/);
  await logged('policy_start', 2);
  alice.send({ type: 'MSG', to: '#general', content: 'back again' });
  t.is((await alice.next('MSG')).content, 'back again');
  t.like(lines.find((l) => l.event === 'policy_exit'), { code: 3 });
});

test('the policy\'s stderr goes to the relay log, and only the points it polices are sent to it', async (t) => {
  const { relay, lines, logged } = await policed(t, { points: ['identify'] });
  const alice = await member(t, relay, 'alice');
  alice.send({ type: 'MSG', to: '#general', content: 'not policed' });
  await alice.next('MSG');
  await logged('policy_stderr');
  t.deepEqual(saw(lines).map((r) => r.point), ['identify']);
});

test('the policy sees the address, and at identify the agent-to-be with its key and proof', async (t) => {
  const { relay, lines, logged } = await policed(t, { points: ['identify', 'frame'] });
  const keys = newKeyPair();
  const c = await connect(t, relay);
  await c.identify('carol', keys);
  c.send({ type: 'LIST_CHANNELS' });
  await c.next('CHANNELS');
  await logged('policy_stderr', 4);
  const requests = saw(lines);
  t.deepEqual(requests.map((r) => r.point), ['frame', 'frame', 'identify', 'frame'], 'IDENTIFY, VERIFY, the admission, LIST_CHANNELS');
  t.true(requests.every((r) => r.ip === '127.0.0.1'));
  t.deepEqual(requests[2].session, { agent_id: expectedAgentId(keys.publicKey), name: 'carol', pubkey: requests[2].session.pubkey, verified: true });
  t.regex(String(requests[2].session.pubkey), /BEGIN PUBLIC KEY/);
  t.is(requests[3].session.agent_id, expectedAgentId(keys.publicKey));
});

/** What the chaos policy said it saw (one stderr line per request). */
function saw(lines: LogLine[]): Array<{ point: string; ip: string; session: Record<string, unknown> }> {
  return lines.filter((l) => l.event === 'policy_stderr').map((l) => JSON.parse(String(l.line).slice(4)));
}
