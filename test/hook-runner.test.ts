/**
 * The hook runner on its own: sync and async veto hooks, refusals returned, thrown or
 * resolved, ordering, timeouts that fail closed, plugin bugs contained, close hooks.
 */
import test from 'ava';
import { HookRegistry, isPromise, type Decision } from '../kernel/hooks.js';
import { RelayError, type Session } from '../kernel/types.js';

const session = { id: 1 } as unknown as Session;

function registry(timeoutMs = 1_000) {
  const failures: Array<{ plugin: string; where: string; err: unknown }> = [];
  const timeouts: string[] = [];
  const hooks = new HookRegistry({
    timeoutMs,
    onFailure: (plugin, where, err) => failures.push({ plugin, where, err }),
    onTimeout: (plugin, point) => timeouts.push(`${plugin}:${point}`),
  });
  return { hooks, failures, timeouts };
}

/** A promise settled by hand, so a test decides exactly when a hook answers. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('a point with no hooks, or whose hooks all pass at once, decides null without a promise', (t) => {
  const { hooks } = registry();
  t.is(hooks.refuse('connect', session), null);
  hooks.add('connect', () => undefined, 'a');
  hooks.add('connect', () => {}, 'b');
  t.is(hooks.refuse('connect', session), null);
});

test('a refusal returned or thrown stops the point; later hooks do not run', (t) => {
  const { hooks } = registry();
  const ran: string[] = [];
  hooks.add('connect', () => void ran.push('first'), 'a');
  hooks.add('connect', () => new RelayError('NOPE', 'returned'), 'b');
  hooks.add('connect', () => void ran.push('never'), 'c');
  const decision = hooks.refuse('connect', session);
  t.true(decision instanceof RelayError);
  t.is((decision as RelayError).code, 'NOPE');
  t.deepEqual(ran, ['first']);

  const thrown = registry();
  thrown.hooks.add('connect', () => {
    throw new RelayError('THROWN', 'thrown');
  }, 'a');
  t.is((thrown.hooks.refuse('connect', session) as RelayError).code, 'THROWN');
  t.is(thrown.failures.length, 0, 'a RelayError is a decision, not a bug');
});

test('a hook that throws anything else is a contained plugin bug: INTERNAL_ERROR, reported with its plugin and point', (t) => {
  const { hooks, failures } = registry();
  hooks.add('join', () => {
    throw new TypeError('oops');
  }, 'buggy');
  const decision = hooks.refuse('join', session, {} as never) as RelayError;
  t.is(decision.code, 'INTERNAL_ERROR');
  t.is(failures.length, 1);
  t.like(failures[0], { plugin: 'buggy', where: 'join' });
});

test('an async hook makes the decision a promise; the hooks after it run once it passes, in order', async (t) => {
  const { hooks } = registry();
  const ran: string[] = [];
  const gate = deferred<undefined>();
  hooks.add('message', () => void ran.push('sync-before'), 'a');
  hooks.add('message', () => gate.promise.then(() => void ran.push('async')), 'b');
  hooks.add('message', () => void ran.push('sync-after'), 'c');
  const decision = hooks.refuse('message', session, { to: '#x', content: 'hi' });
  t.true(isPromise(decision));
  t.deepEqual(ran, ['sync-before'], 'nothing after the pending hook ran yet');
  gate.resolve(undefined);
  t.is(await decision, null);
  t.deepEqual(ran, ['sync-before', 'async', 'sync-after']);
});

test('an async hook may refuse by resolving a RelayError or rejecting with one', async (t) => {
  const { hooks } = registry();
  hooks.add('identify', async () => new RelayError('RESOLVED', 'no'), 'a');
  t.is(((await hooks.refuse('identify', session, { agentId: '@x', name: 'x' })) as RelayError).code, 'RESOLVED');

  const other = registry();
  other.hooks.add('identify', async () => {
    throw new RelayError('REJECTED', 'no');
  }, 'a');
  t.is(((await other.hooks.refuse('identify', session, { agentId: '@x', name: 'x' })) as RelayError).code, 'REJECTED');
});

test('an async hook that rejects with anything else fails closed with INTERNAL_ERROR and is reported', async (t) => {
  const { hooks, failures } = registry();
  hooks.add('join', () => Promise.reject(new Error('database down')), 'db');
  const decision = (await hooks.refuse('join', session, {} as never)) as RelayError;
  t.is(decision.code, 'INTERNAL_ERROR');
  t.like(failures[0], { plugin: 'db', where: 'join' });
});

test('an async hook that never settles fails closed with UNAVAILABLE after the timeout, naming plugin and point', async (t) => {
  const { hooks, timeouts } = registry(30);
  const after: string[] = [];
  hooks.add('frame', () => new Promise<undefined>(() => {}), 'slowpoke');
  hooks.add('frame', () => void after.push('ran'), 'later');
  const decision: Decision = hooks.refuse('frame', session, 'WHOIS', { type: 'WHOIS' });
  const refusal = (await decision) as RelayError;
  t.is(refusal.code, 'UNAVAILABLE');
  t.regex(refusal.message, /slowpoke check \(frame\) did not answer within 30 ms/);
  t.deepEqual(timeouts, ['slowpoke:frame']);
  t.deepEqual(after, [], 'a timed-out decision does not go on to the next hook');
});

test('observers run in order, their results are ignored, and an async observer that rejects is reported, never unhandled', async (t) => {
  const { hooks, failures } = registry();
  const ran: string[] = [];
  hooks.add('joined', () => void ran.push('a'), 'a');
  hooks.add('joined', (async () => {
    throw new Error('late bug');
  }) as never, 'b');
  hooks.add('joined', () => void ran.push('c'), 'c');
  hooks.notify('joined', session, {} as never);
  t.deepEqual(ran, ['a', 'c']);
  await new Promise((resolve) => setImmediate(resolve));
  t.like(failures[0], { plugin: 'b', where: 'joined' });
});

test('closeAll waits for async close hooks, and gives up on one that hangs at the deadline', async (t) => {
  const { hooks, failures } = registry();
  const flushed = deferred<void>();
  let done = false;
  hooks.add('close', () => flushed.promise.then(() => void (done = true)), 'store');
  const closing = hooks.closeAll(5_000);
  flushed.resolve();
  await closing;
  t.true(done, 'closeAll resolved only after the flush');

  const hanging = registry();
  hanging.hooks.add('close', () => new Promise<void>(() => {}), 'stuck');
  await hanging.hooks.closeAll(20);
  t.regex(String((hanging.failures[0]?.err as Error).message), /did not finish within 20 ms/);
  t.is(failures.length, 0);
});
