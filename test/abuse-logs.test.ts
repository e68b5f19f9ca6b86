/** Logs a client can write to are bounded: plugin errors are throttled relay-wide and stay one JSON line each. */
import test from 'ava';
import { literal, type } from 'superstruct';
import type { Plugin } from '../kernel/types.js';
import { corePlugins } from '../plugins/index.js';
import { connectAs, NO_ADDRESS_LIMITS, startRelay } from './helpers/relay-client.js';

/** A plugin with a bug any client can trigger. */
const buggy: Plugin = {
  name: 'buggy',
  setup(relay) {
    relay.handle('BOOM', { schema: type({ type: literal('BOOM') }), handle: () => { throw new Error('bug\nfake log line'); } });
  },
};

test('a client triggering a plugin bug 100 times gets INTERNAL_ERROR each time but writes at most 20 stack traces', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const relay = await startRelay(t, {
    plugins: [...corePlugins(), buggy],
    log: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    rateOther: { burst: 1000, perSec: 1000 },
    floodMaxRefusals: 1000,
    pluginOptions: { limits: NO_ADDRESS_LIMITS },
  });
  const clients = await Promise.all([connectAs(t, relay, 'a'), connectAs(t, relay, 'b')]);
  for (const c of clients) for (let i = 0; i < 50; i++) c.send({ type: 'BOOM' });
  for (const c of clients) for (let i = 0; i < 50; i++) await c.error('INTERNAL_ERROR');
  t.is(relay.api.stats.pluginErrors, 100);
  t.is(lines.filter((l) => l.event === 'plugin_error').length, 20);
  t.true(lines.every((l) => typeof l.event === 'string'), 'every line is one JSON object: a newline in client-triggered text cannot forge one');
});
