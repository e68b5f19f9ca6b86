/**
 * Reconnect after a dropped connection: exponential backoff with full jitter (spreads
 * a herd of clients after a relay restart), a bounded number of attempts, and the
 * re-join of the channels the agent was in.
 */
import type { WelcomeFrame } from '../protocol/messages.js';
import { AgentChatError } from './errors.js';
import type { ClientEvents } from './events.js';

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

/** What the reconnect loop needs from its client: its socket, its channels, and its events. */
export interface ReconnectHooks {
  /** Open a new socket and identify; a failed attempt rejects and ends in a close (then `afterClose`). */
  open(): Promise<WelcomeFrame>;
  /** A socket exists, open or opening. */
  hasSocket(): boolean;
  connected(): boolean;
  /** The channels to re-join; refused ones are removed from it. */
  readonly channels: Set<string>;
  join(channel: string): Promise<unknown>;
  emit: Pick<ClientEmitter, 'reconnecting' | 'reconnect' | 'rejoined' | 'reconnect_failed'>;
}

/** One function per event, with the event's arguments. */
type ClientEmitter = { [K in keyof ClientEvents]: (...args: ClientEvents[K]) => void };

/** The reconnect state of one client. */
export class Reconnector {
  /** Attempts since the last WELCOME. */
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** disconnect() was called: no reconnect until the next connect(). */
  private stopped = false;

  constructor(private readonly client: ReconnectHooks, private readonly options: ReconnectOptions | null) {}

  /** connect() was called: reconnects are allowed again. */
  start(): void {
    this.stopped = false;
  }

  /** disconnect() was called: cancel any scheduled attempt. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** disconnect() was called. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** The socket closed (`wasWelcomed`: it had been identified): will `afterClose` schedule an attempt? */
  willRetry(wasWelcomed: boolean): boolean {
    return !this.stopped && this.options !== null && (wasWelcomed || this.attempt > 0) && this.attempt < this.options.maxAttempts;
  }

  /** Schedule the next attempt, or report giving up when a reconnect was under way. */
  afterClose(wasWelcomed: boolean): void {
    const options = this.options;
    if (this.stopped || options === null || !(wasWelcomed || this.attempt > 0)) return;
    if (this.attempt >= options.maxAttempts) {
      this.client.emit.reconnect_failed({ attempts: this.attempt });
      return;
    }
    const attempt = ++this.attempt;
    const delayMs = backoffDelay(attempt - 1, options);
    this.client.emit.reconnecting({ attempt, delayMs });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.stopped || this.client.hasSocket()) return;
      // A failed attempt ends in a close, which calls afterClose again.
      this.client.open().then((welcome) => this.rejoin(welcome), () => undefined);
    }, delayMs);
  }

  private async rejoin(welcome: WelcomeFrame): Promise<void> {
    this.attempt = 0;
    this.client.emit.reconnect(welcome);
    const joined = this.client.channels;
    const channels = [...joined];
    const results = await Promise.allSettled(channels.map((channel) => this.client.join(channel)));
    results.forEach((result, i) => {
      // Refused by the relay (gone, invite revoked): stop claiming membership. Connection errors keep it for the next try.
      if (result.status === 'rejected' && result.reason instanceof AgentChatError && result.reason.frame !== undefined) {
        joined.delete(channels[i]);
      }
    });
    if (this.client.connected()) this.client.emit.rejoined([...joined]);
  }
}
