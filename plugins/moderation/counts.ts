/** What moderation did, shared by name so the metrics plugin can export it without reaching into this plugin. */
import type { RelayApi } from '../../kernel/types.js';

export const MODERATION_ACTIONS = ['kick', 'ban', 'unban', 'mute', 'unmute', 'expire'] as const;
export type CountedAction = (typeof MODERATION_ACTIONS)[number];
/** Why moderation refused something: a ban, a mute, or one of the gates. */
export const MODERATION_REFUSALS = ['ban', 'mute', 'gate'] as const;
export type CountedRefusal = (typeof MODERATION_REFUSALS)[number];

export interface ModerationCounts {
  /** Operator actions taken, and bans or mutes that ran out (`expire`). */
  actions: Record<CountedAction, number>;
  /** Upgrades, IDENTIFYs and frames refused, by the rule that refused them. */
  refusals: Record<CountedRefusal, number>;
  /** Bans and mutes in force now. */
  active: { ban: number; mute: number };
}

export function moderationCounts(relay: RelayApi): ModerationCounts {
  return relay.shared<ModerationCounts>('moderation.counts', () => ({
    actions: { kick: 0, ban: 0, unban: 0, mute: 0, unmute: 0, expire: 0 },
    refusals: { ban: 0, mute: 0, gate: 0 },
    active: { ban: 0, mute: 0 },
  }));
}
