/** Positional arguments the CLI can check before it connects: a bad one is a usage error (exit 2), not a relay refusal. */
import { asAgentId, isAgentId, isChannel } from '../protocol/index.js';
import { UsageError } from './errors.js';

/** An unquoted `#name` is a comment to the shell: the relay never sees it. */
export const QUOTE_HINT = "quote channel names ('#general'): an unquoted # starts a shell comment";

/** A required positional argument (sade already checks presence; this checks it is text). */
export function requireArg(value: unknown, name: string): string {
  if (value === undefined || value === null || value === '') throw new UsageError(`missing <${name}>`);
  return String(value);
}

/** A `#channel` argument. */
export function channelArg(value: unknown, name = 'channel'): string {
  const text = requireArg(value, name);
  if (!isChannel(text)) throw new UsageError(`<${name}> must be a #channel (# and 1-31 of A-Z a-z 0-9 _ -), got ${JSON.stringify(text)}; ${QUOTE_HINT}`);
  return text;
}

/** An `@agent` id argument; the '@' may be left out. */
export function agentArg(value: unknown, name = 'agent'): string {
  const text = requireArg(value, name);
  const id = asAgentId(text);
  if (!isAgentId(id)) throw new UsageError(`<${name}> must be an agent id, @ and 8 letters or digits (\`agentchat agents <server> '#general'\` lists them), got ${JSON.stringify(text)}`);
  return id;
}

/** Where a message goes: a `#channel` or an `@agent` id. */
export function targetArg(value: unknown): string {
  const text = requireArg(value, 'target');
  if (text.startsWith('#')) return channelArg(text, 'target');
  if (text.startsWith('@')) return agentArg(text, 'target');
  throw new UsageError(`<target> must be a #channel or an @agent id, got ${JSON.stringify(text)}; ${QUOTE_HINT}`);
}
