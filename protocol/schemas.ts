/**
 * superstruct schemas of every client → server message (PROTOCOL.md). The kernel
 * validates a frame against the schema registered for its `type` before any
 * handler runs. `type()` structs ignore unknown fields (forward compatibility
 * with clients newer than us); unknown fields are never relayed.
 */
import { define, literal, nullable, number, optional, string, boolean, type, enums, refine, type Struct, type Infer } from 'superstruct';
import { AGENT_ID, AGENT_NAME, CHANNEL } from './names.js';
import { PROPOSAL_ROLES, PROPOSAL_STATUSES } from './proposals.js';

/** Struct names whose failures are answered with INVALID_NAME instead of INVALID_MSG. */
export const NAME_STRUCTS = new Set(['agent_name', 'channel']);

export const AgentName = define<string>('agent_name', (v) =>
  (typeof v === 'string' && AGENT_NAME.test(v)) || 'must be 1-32 characters of A-Z a-z 0-9 _ -');
export const ChannelName = define<string>('channel', (v) =>
  (typeof v === 'string' && CHANNEL.test(v)) || "must be '#' followed by 1-31 characters of A-Z a-z 0-9 _ -");
export const AgentId = define<string>('agent_id', (v) =>
  (typeof v === 'string' && AGENT_ID.test(v)) || "must be an agent id: '@' followed by 8 letters or digits (or 16 hex digits)");
/** A MSG target: a channel or an agent id. */
export const Target = define<string>('target', (v) =>
  (typeof v === 'string' && (CHANNEL.test(v) || AGENT_ID.test(v))) || "must be a channel ('#name') or an agent id ('@xxxxxxxx')");

/** A string of at most `max` characters (UTF-16 code units, as JS counts them). */
export const text = (max: number, min = 0): Struct<string, null> =>
  define<string>(`text`, (v) => {
    if (typeof v !== 'string') return 'must be a string';
    if (v.length < min) return min === 1 ? 'must not be empty' : `must be at least ${min} characters`;
    if (v.length > max) return `is ${v.length} characters; the limit is ${max}`;
    return true;
  });

/** A base64 Ed25519 signature (bounded: a real one is 88 chars). */
export const Signature = text(256, 1);
/** Client timestamp, ms since epoch. */
export const Timestamp = refine(number(), 'timestamp', (v) => Number.isFinite(v) || 'must be a finite number');

export const Identify = type({
  type: literal('IDENTIFY'),
  name: AgentName,
  pubkey: optional(nullable(text(4096))),
  /** Extension: a 16-hex agent id for this key instead of the 0.3.x-compatible 8. */
  long_id: optional(boolean()),
});
/** `url`: the relay URL the client dialled, normalized (extension: the proof is bound to it). */
export const Verify = type({ type: literal('VERIFY'), sig: Signature, url: optional(text(2048)) });
/** Extensions: `since` replays the messages after that msg_id; `history: 0` replays none (n: the last n). */
export const Join = type({
  type: literal('JOIN'),
  channel: ChannelName,
  since: optional(refine(number(), 'since', (v) => (Number.isSafeInteger(v) && v >= 0) || 'must be a msg_id (a whole number, 0 or more)')),
  history: optional(refine(number(), 'history', (v) => (Number.isSafeInteger(v) && v >= 0) || 'must be a number of messages (0 or more)')),
});
export const Leave = type({ type: literal('LEAVE'), channel: ChannelName });
export const Ping = type({ type: literal('PING') });
/** Extension: where a paged answer goes on (the `cursor` of the previous page). */
const Cursor = optional(text(64));
/** Bound on one paged answer (LIST_CHANNELS, LIST_AGENTS, LIST_PROPOSALS), in bytes of JSON. */
export const MAX_PAGE_BYTES = 64 * 1024;
export const ListChannels = type({ type: literal('LIST_CHANNELS'), cursor: Cursor });
export const ListAgents = type({ type: literal('LIST_AGENTS'), channel: ChannelName, cursor: Cursor });
export const CreateChannel = type({
  type: literal('CREATE_CHANNEL'),
  channel: ChannelName,
  invite_only: optional(boolean()),
});
export const Invite = type({ type: literal('INVITE'), channel: ChannelName, agent: AgentId });
/** Extension: look up an agent's public key to verify its signatures yourself. */
export const Whois = type({ type: literal('WHOIS'), agent: AgentId });

/** Default bound on a MSG content's serialized (JSON-escaped, UTF-8) size: what the relay stores and relays. */
export const MAX_CONTENT_BYTES = 16 * 1024;

/**
 * Bytes `text` takes inside a JSON string as JSON.stringify writes it, in UTF-8: a
 * control character is 6 (`\u0001`) or 2 (`\n`), a quote or backslash 2, a lone
 * surrogate 6, a pair 4. A count, not a serialization: nothing is allocated.
 */
export function jsonStringBytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += c >= 0x20 ? (c === 0x22 || c === 0x5c ? 2 : 1) : c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 2 : 6;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += c >= 0xd800 && c <= 0xdfff ? 6 : 3;
  }
  return bytes;
}

/** Most bytes a string of `chars` UTF-16 units can take JSON-escaped: below `maxBytes` it needs no count. */
const WORST_BYTES_PER_CHAR = 6;

/** MSG content: at most `maxChars` characters and `maxBytes` bytes once JSON-escaped. */
export const content = (maxChars: number, maxBytes: number): Struct<string, null> =>
  define<string>('text', (v) => {
    if (typeof v !== 'string') return 'must be a string';
    if (v.length > maxChars) return `is ${v.length} characters; the limit is ${maxChars}`;
    if (v.length * WORST_BYTES_PER_CHAR > maxBytes) {
      const bytes = jsonStringBytes(v);
      if (bytes > maxBytes) return `is ${bytes} bytes once JSON-escaped (control characters take 6); the limit is ${maxBytes} bytes`;
    }
    return true;
  });

/** MSG schema for given content limits (configurable per relay). */
export function msgSchema(maxContent: number, maxContentBytes = MAX_CONTENT_BYTES) {
  return type({
    type: literal('MSG'),
    to: Target,
    content: content(maxContent, maxContentBytes),
    ts: optional(Timestamp),
    sig: optional(Signature),
  });
}
export const Msg = msgSchema(4096);

/**
 * The MSG schema as a plain predicate, for the per-message path (superstruct costs ~2 µs
 * a frame, this ~0.1 µs). It accepts exactly what msgSchema(maxContent, maxContentBytes)
 * accepts; a test holds the two together. The kernel still runs the schema when this
 * says no, to name the failing field. The byte count runs only for content long
 * enough to possibly exceed the byte limit (past 2,730 characters at the defaults).
 */
export function msgCheck(maxContent: number, maxContentBytes = MAX_CONTENT_BYTES): (frame: Record<string, unknown>) => boolean {
  const countAbove = Math.floor(maxContentBytes / WORST_BYTES_PER_CHAR);
  return (m) => {
    const { to, content, ts, sig } = m;
    return (
      typeof to === 'string' && (CHANNEL.test(to) || AGENT_ID.test(to)) &&
      typeof content === 'string' && content.length <= maxContent &&
      (content.length <= countAbove || jsonStringBytes(content) <= maxContentBytes) &&
      (ts === undefined || (typeof ts === 'number' && Number.isFinite(ts))) &&
      (sig === undefined || (typeof sig === 'string' && sig.length >= 1 && sig.length <= 256))
    );
  };
}

/** Bounds on proposal text fields. */
export const PROPOSAL_LIMITS = { task: 4096, terms: 4096, proof: 4096, reason: 1024, currency: 16, payment_code: 256, id: 64 } as const;
const ProposalId = text(PROPOSAL_LIMITS.id, 1);
/** An amount: a non-negative finite number (a numeric string is accepted for 0.3.x clients that send one). */
export const Amount = define<number | string>('amount', (v) =>
  (typeof v === 'number' && Number.isFinite(v) && v >= 0) ||
  (typeof v === 'string' && v.length <= 32 && /^\d+(\.\d+)?$/.test(v)) ||
  'must be a non-negative number');

export const Proposal = type({
  /** Extension: 'json' when `sig` covers proposalCanonicalString (every field, unambiguous); absent for the 0.3.x '|' form. */
  sig_format: optional(enums(['json'])),
  type: literal('PROPOSAL'),
  to: AgentId,
  task: text(PROPOSAL_LIMITS.task, 1),
  amount: optional(nullable(Amount)),
  currency: optional(nullable(text(PROPOSAL_LIMITS.currency))),
  payment_code: optional(nullable(text(PROPOSAL_LIMITS.payment_code))),
  terms: optional(nullable(text(PROPOSAL_LIMITS.terms))),
  expires: optional(nullable(refine(number(), 'expires', (v) => (Number.isFinite(v) && v > 0) || 'must be a positive number of seconds'))),
  sig: Signature,
});
export const Accept = type({ type: literal('ACCEPT'), proposal_id: ProposalId, payment_code: optional(nullable(text(PROPOSAL_LIMITS.payment_code))), sig: Signature });
export const Reject = type({ type: literal('REJECT'), proposal_id: ProposalId, reason: optional(nullable(text(PROPOSAL_LIMITS.reason))), sig: Signature });
export const Complete = type({ type: literal('COMPLETE'), proposal_id: ProposalId, proof: optional(nullable(text(PROPOSAL_LIMITS.proof))), sig: Signature });
export const Dispute = type({ type: literal('DISPUTE'), proposal_id: ProposalId, reason: text(PROPOSAL_LIMITS.reason, 1), sig: Signature });
export const ProposalStatus = enums(PROPOSAL_STATUSES);
/** Extension: an agent's own proposals, e.g. after a reconnect. */
export const ListProposals = type({
  type: literal('LIST_PROPOSALS'),
  status: optional(ProposalStatus),
  role: optional(enums(PROPOSAL_ROLES)),
  cursor: Cursor,
});

export type IdentifyMessage = Infer<typeof Identify>;
export type VerifyMessage = Infer<typeof Verify>;
export type JoinMessage = Infer<typeof Join>;
export type LeaveMessage = Infer<typeof Leave>;
export type MsgMessage = Infer<typeof Msg>;
export type CreateChannelMessage = Infer<typeof CreateChannel>;
export type InviteMessage = Infer<typeof Invite>;
export type ListChannelsMessage = Infer<typeof ListChannels>;
export type ListAgentsMessage = Infer<typeof ListAgents>;
export type WhoisMessage = Infer<typeof Whois>;
export type ProposalMessage = Infer<typeof Proposal>;
export type AcceptMessage = Infer<typeof Accept>;
export type RejectMessage = Infer<typeof Reject>;
export type CompleteMessage = Infer<typeof Complete>;
export type DisputeMessage = Infer<typeof Dispute>;
export type ListProposalsMessage = Infer<typeof ListProposals>;

