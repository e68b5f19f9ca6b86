/**
 * The MCP session's inbox: what arrived from the relay and the model has not read
 * yet, bounded in count and bytes (the oldest unread entry is dropped and counted).
 * An entry is handed out once and then forgotten, and an arrival already seen
 * (the same relay msg_id, or for frames without one the same sender, target, ts,
 * content and signature, as history replayed after a re-join) is not stored again.
 */
import { createHash } from 'node:crypto';

/** What the model reads: one relay frame, its untrusted text in named fields. */
export interface InboxEntry {
  /** `<conversation>/<n>`: n is the relay's msg_id when the frame has one, else `~<arrival number>`. */
  id: string;
  /** `#channel`, or `@agent` for direct messages and proposals with that agent. */
  conversation: string;
  /** The relay frame's fields (type, from, to, content, ts, …). */
  frame: Record<string, unknown>;
}

export interface InboxLimits {
  maxMessages: number;
  maxBytes: number;
  /** How many arrival keys are remembered to refuse duplicates. */
  maxSeen: number;
}

export const DEFAULT_INBOX_LIMITS: InboxLimits = { maxMessages: 1000, maxBytes: 1 << 20, maxSeen: 10_000 };

/** What `take` returns. */
export interface Taken {
  entries: InboxEntry[];
  /** Unread entries that matched but did not fit in the byte budget. */
  more: boolean;
}

export interface InboxFilter {
  /** Only this conversation. */
  conversation?: string;
  /** Only entries after this id, in its conversation; the ones up to it are dropped as read. */
  since?: string;
}

export interface TakeOptions extends InboxFilter {
  /** Budget in bytes for the entries returned, as a compact JSON array of `{id, conversation, ...frame}`; at least one is always returned, cut to fit. */
  maxBytes: number;
}

interface Stored extends InboxEntry {
  /** Arrival number in this session. */
  seq: number;
  /** The relay's msg_id, when the frame had one. */
  msgId?: string | number;
  bytes: number;
}

/** Message fields whose text is cut when a single entry is over the read budget. */
const TEXT_FIELDS = ['content', 'task', 'terms', 'reason', 'proof'] as const;

export class Inbox {
  private readonly entries: Stored[] = [];
  private bytes = 0;
  private seq = 0;
  private readonly seen = new Map<string, true>();
  private readonly waiters = new Set<() => void>();
  /** Unread entries dropped to stay within the limits, since the last `takeDropped`. */
  private droppedSinceRead = 0;
  /** All entries dropped unread in this session. */
  droppedTotal = 0;

  constructor(private readonly limits: InboxLimits = DEFAULT_INBOX_LIMITS) {}

  get size(): number {
    return this.entries.length;
  }

  /** Store a frame unless it was seen before; returns whether it was stored. */
  add(conversation: string, frame: Record<string, unknown>): boolean {
    const msgId = relayMsgId(frame);
    const key = msgId === undefined ? fingerprint(conversation, frame) : `${conversation}/${String(msgId)}`;
    if (this.seen.has(key)) return false;
    this.remember(key);
    const seq = ++this.seq;
    const id = `${conversation}/${msgId === undefined ? `~${seq}` : String(msgId)}`;
    const entry: Stored = { id, conversation, frame, seq, msgId, bytes: jsonBytes({ id, conversation, ...frame }) };
    this.entries.push(entry);
    this.bytes += entry.bytes;
    while (this.entries.length > this.limits.maxMessages || (this.bytes > this.limits.maxBytes && this.entries.length > 1)) {
      this.bytes -= this.entries.shift()!.bytes;
      this.droppedSinceRead++;
      this.droppedTotal++;
    }
    for (const wake of [...this.waiters]) wake();
    return true;
  }

  /** Hand out unread entries in arrival order, within the byte budget; they are never handed out again. */
  take(options: TakeOptions): Taken {
    const since = options.since === undefined ? undefined : parseId(options.since);
    const conversation = since?.conversation ?? options.conversation;
    if (since !== undefined) this.dropUpTo(since);
    const taken: InboxEntry[] = [];
    // As one JSON array: two brackets, and a comma before every entry but the first.
    let budget = options.maxBytes - 2;
    let more = false;
    for (let i = 0; i < this.entries.length; ) {
      const entry = this.entries[i];
      if (conversation !== undefined && entry.conversation !== conversation) {
        i++;
        continue;
      }
      if (entry.bytes > budget) {
        if (taken.length > 0) {
          more = true;
          break;
        }
        taken.push(cutToFit(entry, budget));
      } else {
        taken.push({ id: entry.id, conversation: entry.conversation, frame: entry.frame });
      }
      budget -= entry.bytes + 1;
      this.entries.splice(i, 1);
      this.bytes -= entry.bytes;
    }
    return { entries: taken, more };
  }

  /** Whether an unread entry would be taken (for a read that waits). */
  has(filter: InboxFilter = {}): boolean {
    const since = filter.since === undefined ? undefined : parseId(filter.since);
    const conversation = since?.conversation ?? filter.conversation;
    return this.entries.some((e) => (conversation === undefined || e.conversation === conversation) && (since === undefined || isAfter(e, since)));
  }

  /** Resolves with true when an entry to take arrives, or with false after `ms` or on abort. */
  waitFor(filter: InboxFilter, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.has(filter)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (found: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        signal?.removeEventListener('abort', abort);
        resolve(found);
      };
      const wake = () => {
        if (this.has(filter)) done(true);
      };
      const abort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      this.waiters.add(wake);
      signal?.addEventListener('abort', abort, { once: true });
    });
  }

  /** Entries dropped unread since the last call. */
  takeDropped(): number {
    const n = this.droppedSinceRead;
    this.droppedSinceRead = 0;
    return n;
  }

  /** `since` means "I have everything up to this one": the entries of its conversation up to it go. */
  private dropUpTo(since: ParsedId): void {
    for (let i = 0; i < this.entries.length; ) {
      const entry = this.entries[i];
      if (entry.conversation === since.conversation && !isAfter(entry, since)) {
        this.entries.splice(i, 1);
        this.bytes -= entry.bytes;
      } else {
        i++;
      }
    }
  }

  private remember(key: string): void {
    this.seen.set(key, true);
    // A Map iterates in insertion order: the first key is the oldest.
    if (this.seen.size > this.limits.maxSeen) this.seen.delete(this.seen.keys().next().value!);
  }
}

interface ParsedId {
  conversation: string;
  /** `~n`: an arrival number; otherwise the relay's msg_id. */
  local: boolean;
  value: string;
}

/** Split `<conversation>/<n>`; throws a one-line reason for anything else. */
export function parseId(id: string): ParsedId {
  const slash = id.lastIndexOf('/');
  const conversation = id.slice(0, slash);
  const n = id.slice(slash + 1);
  if (slash <= 0 || n === '' || !/^[#@]/.test(conversation)) {
    throw new InboxIdError(`since must be a message id that read returned, like "#general/~12", got ${JSON.stringify(id)}`);
  }
  return n.startsWith('~') ? { conversation, local: true, value: n.slice(1) } : { conversation, local: false, value: n };
}

export class InboxIdError extends Error {
  readonly code = 'INVALID_ID';
}

function isAfter(entry: Stored, since: ParsedId): boolean {
  if (since.local) return entry.seq > Number(since.value);
  // A relay id against a frame without one (not expected once the relay sends msg_id): keep it.
  if (entry.msgId === undefined) return true;
  return compareIds(String(entry.msgId), since.value) > 0;
}

/** msg_ids are monotonic per channel: shorter first, then by text, which orders numbers and fixed-width ids alike. */
export function compareIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function relayMsgId(frame: Record<string, unknown>): string | number | undefined {
  const id = frame.msg_id;
  return typeof id === 'number' || (typeof id === 'string' && id !== '') ? id : undefined;
}

/** The same frame relayed twice (live, then replayed after a re-join) has the same sender, target, ts, text and sig. */
function fingerprint(conversation: string, frame: Record<string, unknown>): string {
  const { replay: _replay, ...rest } = frame;
  return 'h:' + createHash('sha256').update(conversation + '\0' + JSON.stringify(rest)).digest('base64');
}

export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** One entry alone over the budget: its text fields are cut (and marked) until it fits. */
function cutToFit(entry: Stored, budget: number): InboxEntry {
  const frame: Record<string, unknown> = { ...entry.frame, truncated: true };
  const out = { id: entry.id, conversation: entry.conversation, frame };
  for (const field of TEXT_FIELDS) {
    const text = frame[field];
    if (typeof text !== 'string') continue;
    if (jsonBytes(out) <= budget) break;
    // The longest prefix that fits, by bisection (characters are 1 to 6 bytes of JSON).
    let [lo, hi] = [0, text.length];
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      frame[field] = text.slice(0, mid);
      if (jsonBytes(out) <= budget) lo = mid;
      else hi = mid - 1;
    }
    frame[field] = text.slice(0, lo);
  }
  return out;
}
