/**
 * The plugin lifecycle: unique names and dependencies checked when the relay is made,
 * async setups awaited in order by listen(), setup errors naming the plugin, options
 * by plugin name, close hooks awaited by close(), core plugins left out by name,
 * and a busy port refused.
 */
import test from 'ava';
import { createRelayKernel, type Plugin } from '../kernel/index.js';
import { corePlugins, history, identity } from '../plugins/index.js';
import { createRelay } from '../relay.js';
import { connectAs, startRelay } from './helpers/relay-client.js';

const quiet = { log: false as const, port: 0, host: '127.0.0.1' };

test('two plugins with one name are refused when the relay is made', (t) => {
  const a: Plugin = { name: 'twin', setup() {} };
  const b: Plugin = { name: 'twin', setup() {} };
  t.throws(() => createRelayKernel({ ...quiet, plugins: [a, b] }), { message: /two plugins are named "twin"/ });
});

test('a missing or misplaced dependency is refused when the relay is made, saying which', (t) => {
  const needy: Plugin = { name: 'needy', dependencies: ['identity'], setup() {} };
  t.throws(() => createRelayKernel({ ...quiet, plugins: [needy] }), { message: /plugin "needy" needs plugin "identity" loaded before it, and it is not loaded/ });
  t.throws(() => createRelayKernel({ ...quiet, plugins: [needy, identity()] }), { message: /needs plugin "identity" to come before it/ });
  t.notThrows(() => createRelayKernel({ ...quiet, plugins: [identity(), needy] }));
  t.throws(() => createRelay({ ...quiet, without: ['identity'] }), { message: /plugin "proposals" needs plugin "identity"/ });
  t.throws(() => createRelay({ ...quiet, without: ['idnetity'] }), { message: /no core plugin "idnetity".*limits, logging, identity/ });
});

test('the kernel constructor needs its plugins', (t) => {
  t.throws(() => createRelayKernel({ ...quiet } as never), { message: /needs `plugins`/ });
});

test('listen() awaits every async setup, in order, with each plugin\'s own options', async (t) => {
  const order: string[] = [];
  const slow: Plugin<{ greeting?: string }> = {
    name: 'slow',
    async setup(relay, options) {
      await new Promise((resolve) => setImmediate(resolve));
      order.push(`slow:${options.greeting}`);
      relay.handle('HELLO', {
        schema: { is: () => true, validate: () => [undefined, {}] } as never,
        handle: (session) => void relay.send(session, { type: 'HELLO', greeting: options.greeting }),
      });
    },
  };
  const after: Plugin = { name: 'after', setup: () => void order.push('after') };
  const relay = createRelay({ ...quiet, extraPlugins: [slow, after], pluginOptions: { slow: { greeting: 'hi' } } });
  t.teardown(() => relay.close());
  await relay.listen();
  t.deepEqual(order, ['slow:hi', 'after']);
  const alice = await connectAs(t, relay, 'alice');
  alice.send({ type: 'HELLO' });
  t.is((await alice.next('HELLO')).greeting, 'hi');
});

test('an error thrown in setup names the plugin, and listen() rejects without binding a port', async (t) => {
  const broken: Plugin = {
    name: 'broken',
    async setup() {
      throw new Error('cannot open ./rules.json');
    },
  };
  const relay = createRelay({ ...quiet, extraPlugins: [broken] });
  await t.throwsAsync(relay.listen(), { message: 'plugin "broken" failed to set up: cannot open ./rules.json' });
  t.is(relay.port, 0);
  await relay.close();
});

test('close() awaits every close hook (a plugin flushing its state) before it resolves', async (t) => {
  let flushed = false;
  const store: Plugin = {
    name: 'flusher',
    setup(relay) {
      relay.hook('close', async () => {
        await new Promise((resolve) => setImmediate(resolve));
        flushed = true;
      });
    },
  };
  const relay = createRelay({ ...quiet, extraPlugins: [store] });
  await relay.listen();
  await relay.close();
  t.true(flushed);
});

test('a core plugin left out by name is gone; its options go to the one that stays', async (t) => {
  const relay = await startRelay(t, { without: ['history'], pluginOptions: { identity: { allowUnverifiedKeys: true } } });
  t.deepEqual(relay.api.plugins, corePlugins().map((p) => p.name).filter((name) => name !== 'history'));
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'not kept' });
  await alice.next('MSG');
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  await bob.ping();
  t.is(bob.pending('MSG').length, 0, 'no history plugin, no replay');
});

test('plugin options given to a factory are defaults that pluginOptions override', async (t) => {
  const relay = await startRelay(t, { plugins: [...corePlugins().filter((p) => p.name !== 'history'), history({ size: 1 })], pluginOptions: { history: { size: 2 } } });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  for (const content of ['one', 'two', 'three']) {
    alice.send({ type: 'MSG', to: '#general', content });
    await alice.next('MSG');
  }
  const bob = await connectAs(t, relay, 'bob');
  await bob.join('#general');
  await bob.ping();
  t.deepEqual(bob.pending('MSG').map((f) => f.content), ['two', 'three']);
});

test('a second relay on a port in use fails to listen with a clear error (no silent port sharing)', async (t) => {
  const first = await startRelay(t);
  const second = createRelay({ ...quiet, port: first.port });
  await t.throwsAsync(second.listen(), { message: new RegExp(`cannot listen on 127.0.0.1:${first.port}: the port is in use`) });
  await second.close();
});
