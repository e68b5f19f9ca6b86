/**
 * Coalesced writes (coalesceMs): a busy channel's frames are held and published together; the
 * first frame after a quiet spell goes at once; order per sender and channel is kept; membership
 * changes flush first; the slow-consumer bound still holds; DMs are never held.
 */
import test from 'ava';
import { ChannelState } from '../kernel/channels.js';
import { Coalescer, type CoalescerClock } from '../kernel/coalesce.js';
import { connectAs, type Frame, type RelayClient, startRelay } from './helpers/relay-client.js';

const FAST = { rateMsg: { burst: 1_000_000, perSec: 1_000_000 } };
/** A budget no test waits for: what is held comes out only through a flush the test causes. */
const FOREVER_MS = 60_000;

const contents = (c: RelayClient, pred: (f: Frame) => boolean = () => true): string[] =>
  c.received.filter((f) => f.type === 'MSG' && f.replay !== true && pred(f)).map((f) => String(f.content));

test('with coalescing on, every member gets each sender\'s channel MSGs complete and in order', async (t) => {
  const relay = await startRelay(t, { ...FAST, coalesceMs: 5 });
  const [alice, carol, bob] = await Promise.all(['alice', 'carol', 'bob'].map((name) => connectAs(t, relay, name)));
  for (const c of [alice, carol, bob]) await c.join('#general');
  const N = 200;
  for (let i = 0; i < N; i++) {
    alice.send({ type: 'MSG', to: '#general', content: `a${i}` });
    carol.send({ type: 'MSG', to: '#general', content: `c${i}` });
  }
  for (const c of [alice, carol, bob]) {
    await c.next('MSG', (f) => f.content === `a${N - 1}`);
    await c.next('MSG', (f) => f.content === `c${N - 1}`);
    t.deepEqual(contents(c, (f) => f.from === alice.agentId), Array.from({ length: N }, (_, i) => `a${i}`));
    t.deepEqual(contents(c, (f) => f.from === carol.agentId), Array.from({ length: N }, (_, i) => `c${i}`));
    // msg_id is monotonic per channel in the order every member sees.
    const ids = c.received.filter((f) => f.type === 'MSG').map((f) => Number(f.msg_id));
    t.deepEqual(ids, [...ids].sort((x, y) => x - y));
  }
});

test('a quiet channel\'s frame goes at once; a busy one holds the next until a JOIN flushes it to the members it was routed to', async (t) => {
  const relay = await startRelay(t, { ...FAST, coalesceMs: FOREVER_MS });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await alice.join('#general');
  await bob.join('#general');
  // A fresh channel starts quiet: its first frame is not held.
  alice.send({ type: 'CREATE_CHANNEL', channel: '#room' });
  await alice.next('JOINED', (f) => f.channel === '#room');
  await bob.join('#room');
  // #room had never published: bob's AGENT_JOINED went at once (a 60 s hold would time this out).
  await alice.next('AGENT_JOINED', (f) => f.channel === '#room');
  // Its next frame, within the budget, is held.
  alice.send({ type: 'MSG', to: '#room', content: 'held 1' });
  alice.send({ type: 'MSG', to: '#room', content: 'held 2' });
  await alice.ping();
  await bob.ping();
  t.deepEqual(contents(bob), [], 'held: not delivered yet');
  const carol = await connectAs(t, relay, 'carol');
  await carol.join('#room');
  // The JOIN flushed them to alice and bob first; carol sees them only as history.
  await bob.next('MSG', (f) => f.content === 'held 2');
  t.deepEqual(contents(bob), ['held 1', 'held 2']);
  await carol.ping();
  t.deepEqual(contents(carol), []);
  t.deepEqual(carol.received.filter((f) => f.type === 'MSG' && f.replay === true).map((f) => f.content), ['held 1', 'held 2']);
});

test('a frame held when a member LEAVEs reaches that member before LEFT, and the others too', async (t) => {
  const relay = await startRelay(t, { ...FAST, coalesceMs: FOREVER_MS });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#agents');
  await alice.join('#agents');
  await bob.next('AGENT_JOINED');
  // The channel just published (AGENT_JOINED): a MSG now is within the budget, so held.
  alice.send({ type: 'MSG', to: '#agents', content: 'before leave' });
  await alice.ping();
  t.deepEqual(contents(bob), []);
  bob.send({ type: 'LEAVE', channel: '#agents' });
  const left = await bob.next('LEFT');
  t.truthy(left);
  const order = bob.received.filter((f) => f.type === 'MSG' || f.type === 'LEFT').map((f) => f.type === 'LEFT' ? 'LEFT' : String(f.content));
  t.deepEqual(order, ['before leave', 'LEFT'], 'the held frame reached the leaver before LEFT');
  await alice.next('MSG', (f) => f.content === 'before leave');
  await bob.ping();
  t.is(contents(bob).length, 1, 'exactly once');
});

test('DMs are never held', async (t) => {
  const relay = await startRelay(t, { ...FAST, coalesceMs: FOREVER_MS });
  const alice = await connectAs(t, relay, 'alice');
  const bob = await connectAs(t, relay, 'bob');
  for (let i = 0; i < 5; i++) alice.send({ type: 'MSG', to: bob.agentId, content: `dm${i}` });
  await bob.next('MSG', (f) => f.content === 'dm4');
  t.deepEqual(contents(bob), ['dm0', 'dm1', 'dm2', 'dm3', 'dm4']);
});

// ---- the slow-consumer bound with coalescing on ---------------------------------

const SLOW = { ...FAST, slowConsumerBytes: 64 * 1024, slowConsumerCheckMs: 20, coalesceMs: 5 };
const pause = (c: RelayClient) => (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
const resume = (c: RelayClient) => (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();

test('with coalescing on, a member that stops reading is closed as a slow consumer and sees ERROR SLOW_CONSUMER before close 1008', async (t) => {
  const relay = await startRelay(t, { ...SLOW, maxContentChars: 20_000 });
  const slow = await connectAs(t, relay, 'slow');
  const publisher = await connectAs(t, relay, 'publisher');
  await slow.join('#general');
  await publisher.join('#general');
  pause(slow);
  const deadline = Date.now() + 20_000;
  let sent = 0;
  // Bursts of 8: the channel is busy, so most frames are held and flushed together.
  while (relay.api.stats.slowConsumers === 0) {
    if (Date.now() > deadline) throw new Error(`no slow consumer detected after ${sent} messages`);
    for (let i = 0; i < 8; i++) publisher.send({ type: 'MSG', to: '#general', content: `${sent++}|`.padEnd(16_000, 'z') });
    await publisher.next('MSG', (f) => String(f.content).startsWith(`${sent - 1}|`));
  }
  t.is(relay.api.stats.slowConsumers, 1);
  t.is(relay.api.sessions.byAgentId(slow.agentId), undefined);
  resume(slow);
  const closed = await slow.closed;
  const last = slow.received.at(-1)!;
  t.is(last.code, 'SLOW_CONSUMER', `last frame: ${last.type} ${String(last.code ?? '')}`);
  t.is(closed.code, 1008);
  // What it got before the cut-off came in order, without gaps.
  const seqs = slow.received.filter((f) => f.type === 'MSG').map((f) => Number(String(f.content).split('|')[0]));
  t.deepEqual(seqs, seqs.map((_, i) => i));
  await publisher.ping();
});

/** A clock the test moves by hand: timers fire and immediates run only when it says so. */
function handClock() {
  const state = { now: 0, timers: [] as Array<{ fn: () => void; ms: number }>, immediates: [] as Array<() => void> };
  const clock: CoalescerClock = {
    now: () => state.now,
    setTimeout: (fn, ms) => {
      const timer = { fn, ms };
      state.timers.push(timer);
      return timer;
    },
    clearTimeout: (handle) => void state.timers.splice(state.timers.indexOf(handle as (typeof state.timers)[number]), 1),
    setImmediate: (fn) => void state.immediates.push(fn),
  };
  const fireTimer = (): void => state.timers.shift()!.fn();
  const runImmediates = (): void => {
    for (const fn of state.immediates.splice(0)) fn();
  };
  return { state, clock, fireTimer, runImmediates };
}

test('a held frame waits the budget; one first held in the turn of a flush waits less by what that turn has taken, never under half', (t) => {
  const { state, clock, fireTimer, runImmediates } = handClock();
  const out: string[] = [];
  const coalescer = new Coalescer(50, (_channel, text) => out.push(text), clock);
  const channel = new ChannelState('#busy', false, false, null, 0);

  coalescer.publish(channel, 'quiet');
  t.deepEqual(out, ['quiet'], 'the first frame after a quiet spell goes at once');
  state.now = 20;
  coalescer.publish(channel, 'a');
  state.now = 40;
  coalescer.publish(channel, 'b');
  t.deepEqual(out, ['quiet']);
  t.deepEqual(state.timers.map((x) => x.ms), [50], 'held from a turn with no flush in it: the whole budget');

  state.now = 70;
  fireTimer();
  t.deepEqual(out, ['quiet', 'a', 'b'], 'flushed together, in order');
  // Writing the flush took 12 ms: a frame read in that turn may have waited since the flush began.
  state.now = 82;
  coalescer.publish(channel, 'c');
  t.deepEqual(state.timers.map((x) => x.ms), [38]);

  state.now = 120;
  fireTimer();
  state.now = 150; // a 30 ms turn: the hold never drops under half the budget
  coalescer.publish(channel, 'd');
  t.deepEqual(state.timers.map((x) => x.ms), [25]);

  state.now = 175;
  fireTimer();
  runImmediates(); // the turn is over: frames are read as they come again
  state.now = 180;
  coalescer.publish(channel, 'e');
  t.deepEqual(state.timers.map((x) => x.ms), [50]);
  coalescer.stop();
  t.deepEqual(out, ['quiet', 'a', 'b', 'c', 'd', 'e'], 'stop publishes what is held');
});
