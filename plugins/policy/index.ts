/**
 * policy: relay decisions taken by a long-lived process in any language
 * (`serve --policy CMD`). For each decision at the points it polices, the process
 * gets one JSON line and answers accept or reject (docs/POLICY.md). Points it does
 * not police cost nothing: no hook is registered for them.
 */
import type { Channel, InboundMsg, Plugin, RelayApi, Session } from '../../kernel/types.js';
import { sessionKeys } from '../identity/index.js';
import { PolicyProcess, type PolicyRequest } from './process.js';

/** The decisions a policy may take. */
export const POLICY_POINTS = ['identify', 'join', 'message', 'frame'] as const;
export type PolicyPoint = (typeof POLICY_POINTS)[number];

export interface PolicyOptions {
  /** The command line, run with `sh -c` (e.g. "python3 examples/policy.py"). */
  command?: string;
  /** Points sent to the policy (default identify, join, message). */
  points?: readonly PolicyPoint[];
  /** How long an answer may take; then the decision fails closed (default 2 s, capped by the kernel's hookTimeoutMs). */
  timeoutMs?: number;
  /** Decisions waiting at once; past it, new ones fail closed (default 1,024). */
  maxInFlight?: number;
}

export const DEFAULT_POLICY_POINTS: readonly PolicyPoint[] = ['identify', 'join', 'message'];
export const POLICY_DEFAULTS = { points: DEFAULT_POLICY_POINTS, timeoutMs: 2_000, maxInFlight: 1_024 } as const;

export function policy(defaults: PolicyOptions = {}): Plugin<PolicyOptions> {
  return {
    name: 'policy',
    setup(relay: RelayApi, setupOptions: PolicyOptions) {
      const options = { ...defaults, ...setupOptions };
      if (typeof options.command !== 'string' || options.command.trim() === '') {
        throw new Error('the policy plugin needs a command (serve --policy "python3 my-policy.py")');
      }
      const points = options.points ?? DEFAULT_POLICY_POINTS;
      for (const point of points) {
        if (!POLICY_POINTS.includes(point)) throw new Error(`unknown policy point "${point}"; the points are ${POLICY_POINTS.join(', ')}`);
      }
      const keys = sessionKeys(relay);
      const child = new PolicyProcess({
        command: options.command,
        timeoutMs: Math.min(options.timeoutMs ?? POLICY_DEFAULTS.timeoutMs, relay.config.hookTimeoutMs),
        maxInFlight: options.maxInFlight ?? POLICY_DEFAULTS.maxInFlight,
        logger: relay.logger,
      });

      const sessionOf = (session: Session, agentId = session.agentId, name = session.name): PolicyRequest['session'] => {
        const key = keys.get(session);
        return { agent_id: agentId, name, pubkey: key?.pubkey ?? null, verified: key?.verified ?? false };
      };
      const ask = (point: PolicyPoint, session: PolicyRequest['session'], ip: string, frame: PolicyRequest['frame']) =>
        child.decide({ point, ip, session, frame });

      if (points.includes('identify')) {
        relay.hook('identify', (session, identity) => {
          const asked = sessionOf(session, identity.agentId, identity.name);
          return ask('identify', asked, session.remoteAddress, { type: 'IDENTIFY', name: identity.name, pubkey: asked.pubkey });
        });
      }
      if (points.includes('join')) {
        relay.hook('join', (session: Session, channel: Channel) =>
          ask('join', sessionOf(session), session.remoteAddress, { type: 'JOIN', channel: channel.name }));
      }
      if (points.includes('message')) {
        relay.hook('message', (session: Session, msg: InboundMsg) =>
          ask('message', sessionOf(session), session.remoteAddress, { type: 'MSG', ...msg }));
      }
      if (points.includes('frame')) {
        relay.hook('frame', (session, _type, frame) => ask('frame', sessionOf(session), session.remoteAddress, frame));
      }
      relay.hook('close', () => child.close());
      child.start();
    },
  };
}
