/** CLI exit codes and the one-line error report. */
import { AgentChatError } from '../client/index.js';

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

/** Bad or missing arguments: exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One line on stderr; a relay error shows its code: `error: CHANNEL_NOT_FOUND: channel #nope does not exist`. */
export function errorLine(err: unknown): string {
  if (err instanceof AgentChatError) return `error: ${err.code}: ${err.message}`;
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}

export function exitCodeFor(err: unknown): number {
  return err instanceof UsageError ? EXIT.USAGE : EXIT.FAILED;
}
