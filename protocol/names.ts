/** Name rules of the wire protocol (PROTOCOL.md § Names). */

/** Agent display name: 1–32 of [A-Za-z0-9_-]. */
export const AGENT_NAME = /^[A-Za-z0-9_-]{1,32}$/;
/** Channel: '#' + 1–31 of [A-Za-z0-9_-]; case-sensitive. */
export const CHANNEL = /^#[A-Za-z0-9_-]{1,31}$/;
/**
 * Agent id: '@' + 8 chars (ephemeral: [a-z0-9] with at least one letter past f, so it
 * never looks like a key's id; persistent: hex), or '@' + 16 hex (persistent, opt-in
 * long id, extension).
 */
export const AGENT_ID = /^@(?:[A-Za-z0-9]{8}|[0-9a-f]{16})$/;

export const isAgentName = (v: unknown): v is string => typeof v === 'string' && AGENT_NAME.test(v);
export const isChannel = (v: unknown): v is string => typeof v === 'string' && CHANNEL.test(v);
export const isAgentId = (v: unknown): v is string => typeof v === 'string' && AGENT_ID.test(v);

/** An agent id from user input that may omit the leading '@'. */
export const asAgentId = (idOrBare: string): string => (idOrBare.startsWith('@') ? idOrBare : `@${idOrBare}`);

/** Channels that exist at start and cannot be deleted. */
export const DEFAULT_CHANNELS = ['#general', '#agents'] as const;

/** The relay's default port, as in agentchat 0.3.x. */
export const DEFAULT_PORT = 6667;
