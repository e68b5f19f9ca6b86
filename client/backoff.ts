/** Reconnect delays: exponential backoff with full jitter (spreads a herd of clients after a relay restart). */

export interface ReconnectOptions {
  /** Base delay of the first attempt, ms. */
  initialMs: number;
  /** Cap on the backoff window, ms. */
  maxMs: number;
  /** Attempts before giving up (Infinity: never). */
  maxAttempts: number;
}

export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({ initialMs: 250, maxMs: 30_000, maxAttempts: Infinity });

/** Delay before attempt number `attempt` (0-based): uniform in [0, min(maxMs, initialMs·2^attempt)]. */
export function backoffDelay(attempt: number, options: Pick<ReconnectOptions, 'initialMs' | 'maxMs'>, random: () => number = Math.random): number {
  const window = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * window);
}

/** Normalize the `reconnect` client option; null means no reconnect. */
export function resolveReconnect(option: boolean | Partial<ReconnectOptions> | undefined): ReconnectOptions | null {
  if (!option) return null;
  if (option === true) return { ...DEFAULT_RECONNECT };
  const defined = Object.fromEntries(Object.entries(option).filter(([, v]) => v !== undefined)) as Partial<ReconnectOptions>;
  return { ...DEFAULT_RECONNECT, ...defined };
}
