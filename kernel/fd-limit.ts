/**
 * The process's open-file limit (`ulimit -n`), so the session limit stays below it:
 * a relay that runs out of file descriptors cannot accept, and uWS retries the accept
 * in a busy loop. Node has no getrlimit; Linux shows the limit in /proc/self/limits.
 */
import { readFileSync } from 'node:fs';

/** Assumed where /proc/self/limits cannot be read (the common soft limit). */
export const FALLBACK_FD_LIMIT = 1024;

/** The soft "Max open files" limit from the text of /proc/self/limits, or null when absent or unlimited. */
export function parseFdLimit(limits: string): number | null {
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  if (match === null || match[1] === 'unlimited') return null;
  return Number(match[1]);
}

/** This process's soft open-file limit; FALLBACK_FD_LIMIT when unknown, Infinity when unlimited. */
export function fdLimit(): number {
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return FALLBACK_FD_LIMIT;
  }
  const limit = parseFdLimit(text);
  return limit ?? (/^Max open files\s+unlimited/m.test(text) ? Infinity : FALLBACK_FD_LIMIT);
}

/**
 * The most sessions a process with `limit` descriptors can hold and still accept:
 * headroom for the listening socket, log and store files, a policy process's pipes,
 * and sockets between accept and their 503.
 */
export function sessionsWithin(limit: number): number {
  if (!Number.isFinite(limit)) return Number.MAX_SAFE_INTEGER;
  return Math.max(1, Math.floor(limit * 0.9) - 64);
}
