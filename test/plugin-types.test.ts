/**
 * The extender API's types, checked by the compiler (`npm run typecheck` covers
 * test/): what a plugin author writes must type-check, and the mistakes below must
 * not. The runtime test then runs the same plugin, so none of it is dead text.
 */
import test from 'ava';
import {
  RelayError, type HookMap, type InboundFrame, type Plugin, type RelayApi, type Session, type UpgradeRequest, type VetoResult,
} from '../kernel/index.js';
import { corePlugins } from '../plugins/index.js';
import { connectAs, startRelay } from './helpers/relay-client.js';

interface QuotaOptions {
  perHour: number;
  label?: string;
}

/** Every veto point may answer now or later; observers take the documented arguments. */
const quota: Plugin<QuotaOptions> = {
  name: 'quota',
  dependencies: ['identity'],
  async setup(relay: RelayApi, options: QuotaOptions) {
    const perHour: number = options.perHour;
    const used = relay.sessionSlot<number>('quota.used');
    relay.hook('upgrade', (request: UpgradeRequest) => (request.headers['x-blocked'] ? new RelayError('BLOCKED', 'blocked') : undefined));
    relay.hook('identify', async (_session, identity) => {
      const name: string = identity.name;
      if (name === 'banned') return new RelayError('BANNED_NAME', `${name} is banned`);
    });
    relay.hook('frame', (session: Session, type: string, frame: InboundFrame) => {
      if (type !== 'MSG') return;
      const n = (used.get(session) ?? 0) + 1;
      used.set(session, n);
      if (n > perHour) return Promise.resolve(new RelayError('QUOTA_EXCEEDED', `${options.label ?? 'quota'}: ${perHour} an hour`, { retry_after_ms: 3_600_000, used: n, frame: frame.type }));
    });
    relay.hook('join', (_session, channel) => {
      const inviteOnly: boolean = channel.inviteOnly;
      void inviteOnly;
    });
    relay.hook('close', async () => {});
    relay.handle<{ type: 'QUOTA' }>('QUOTA', {
      schema: { is: () => true, validate: () => [undefined, { type: 'QUOTA' }] } as never,
      async handle(session) {
        relay.send(session, { type: 'QUOTA', used: used.get(session) ?? 0, per_hour: perHour });
      },
    });

    // @ts-expect-error a hook's arguments are typed by its point: join gets a Channel, not a string
    relay.hook('join', (_session: Session, channel: string) => channel);
    // @ts-expect-error there is no such point
    relay.hook('jion', () => {});
    // @ts-expect-error a refusal code is a string
    new RelayError(404, 'no');
    // @ts-expect-error the session a plugin sees is read-only
    relay.hook('identified', (session) => (session.agentId = '@stolen00'));
  },
};

// A veto hook's result type admits sync and async refusals alike.
const vetoes: Array<VetoResult> = [undefined, new RelayError('X', 'x'), Promise.resolve(undefined), Promise.resolve(new RelayError('Y', 'y'))];
const joinHook: HookMap['join'] = async () => undefined;

test('a plugin written against the typed API runs: its own codes, extras, options and async hooks', async (t) => {
  t.is(vetoes.length, 4);
  t.is(typeof joinHook, 'function');
  const relay = await startRelay(t, { plugins: [...corePlugins(), quota], pluginOptions: { quota: { perHour: 1, label: 'free tier' } } });
  const alice = await connectAs(t, relay, 'alice');
  await alice.join('#general');
  alice.send({ type: 'MSG', to: '#general', content: 'one' });
  await alice.next('MSG');
  alice.send({ type: 'MSG', to: '#general', content: 'two' });
  const refused = await alice.next('ERROR');
  t.like(refused, { code: 'QUOTA_EXCEEDED', message: 'free tier: 1 an hour', retry_after_ms: 3_600_000, used: 2, frame: 'MSG', ref: 'MSG' });
  alice.send({ type: 'QUOTA' });
  t.like(await alice.next('QUOTA'), { used: 2, per_hour: 1 });
});
