import test from 'ava';
import { corePlugins } from '../plugins/index.js';
import type { Plugin, Session } from '../kernel/index.js';
import { connect, connectAs, startRelay } from './helpers/relay-client.js';

/** Resolves when the named agent's session closes, with the close code the relay saw. */
function disconnectProbe(): { plugin: Plugin; closed: (agentId: string) => Promise<number> } {
  const waiting = new Map<string, (code: number) => void>();
  return {
    plugin: {
      name: 'disconnect-probe',
      setup(relay) {
        relay.hook('disconnect', (session: Session, code: number) => waiting.get(session.agentId ?? '')?.(code));
      },
    },
    closed: (agentId) => new Promise((resolve) => waiting.set(agentId, resolve)),
  };
}

// uWS's smallest idle timeout is 8 s (timers tick every 4 s): this test takes 8-16 s of wall time.
test('a client that stops answering pings is closed after the idle timeout; one that answers stays', async (t) => {
  t.timeout(40_000);
  const probe = disconnectProbe();
  const relay = await startRelay(t, { idleTimeoutSec: 8, plugins: [...corePlugins(), probe.plugin] });
  const silent = await connectAs(t, relay, 'silent');
  const lively = await connectAs(t, relay, 'lively');
  const silentClosed = probe.closed(silent.agentId);
  // A paused socket reads nothing, so it never answers the relay's automatic pings.
  (silent.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  await silentClosed;
  t.is(relay.api.sessions.byAgentId(silent.agentId), undefined);
  // The other client sent nothing either, but its ws library answered every ping.
  t.truthy(relay.api.sessions.byAgentId(lively.agentId));
  await lively.ping();
});

test('a connection that never sends IDENTIFY is closed after identifyTimeoutMs with AUTH_REQUIRED; one that identified stays', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { identity: { identifyTimeoutMs: 200 } } });
  const lurker = await connect(t, relay);
  const agent = await connectAs(t, relay, 'prompt');
  const refused = await lurker.next('ERROR', undefined, 5000);
  t.is(refused.code, 'AUTH_REQUIRED');
  t.regex(String(refused.message), /no IDENTIFY within 0\.2 s/);
  t.is((await lurker.closed).code, 1008);
  await agent.ping();
  t.truthy(relay.api.sessions.byAgentId(agent.agentId));
});
