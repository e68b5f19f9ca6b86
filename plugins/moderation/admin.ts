/**
 * ADMIN frames: an operator's verified session, whose key is one of the relay's admin
 * keys, signs each action over adminSigningString (bound to the URL its proof named
 * and to a fresh ts, and accepted once). No shared secret ever travels in a frame.
 */
import { ErrorCode } from '../../protocol/errors.js';
import { KeyFormatError, parsePublicKey, verifySignature } from '../../protocol/keys.js';
import { isAgentId } from '../../protocol/names.js';
import { Admin, type AdminMessage, type ModerationRule, type TargetKind } from '../../protocol/moderation.js';
import { adminSigningString, MAX_SIGNED_TS_SKEW_MS } from '../../protocol/signing.js';
import { RelayError, type RelayApi, type Session, type SessionSlot } from '../../kernel/types.js';
import type { SessionKey } from '../identity/index.js';
import { ReplayCache } from '../identity/replay.js';
import { page } from '../listing/page.js';
import { parseCidr } from './cidr.js';

/** Admin frames remembered to refuse a replay (each is remembered for the ts window only). */
const MAX_REMEMBERED_ADMIN_FRAMES = 10_000;

/** What an ADMIN frame names, once checked: the kind of target and its canonical value. */
export interface Target {
  kind: TargetKind;
  /** Agent id, canonical SPKI PEM, or CIDR text. */
  value: string;
  /** For a key: its agent id. */
  agentId?: string;
}

/** What the plugin does for each action; `admin` is the operator's session. */
export interface AdminActions {
  kick(target: Target, reason: string | null, admin: Session): { sessions: number };
  ban(target: Target, reason: string | null, expires: number | null, admin: Session): Promise<{ sessions: number }>;
  unban(target: Target, admin: Session): Promise<{ sessions: number }>;
  mute(target: Target, reason: string | null, expires: number | null, admin: Session): Promise<{ sessions: number }>;
  unmute(target: Target, admin: Session): Promise<{ sessions: number }>;
  /** Every live rule, in a stable order, each with its `key` to page by. */
  list(): Array<ModerationRule & { key: string }>;
}

/** The admin keys of the options, as canonical PEM; a key that does not parse stops the relay at start. */
export function adminKeySet(keys: readonly string[]): Set<string> {
  const set = new Set<string>();
  for (const [i, text] of keys.entries()) {
    try {
      set.add(parsePublicKey(text).pem);
    } catch (err) {
      throw new Error(`moderation adminKeys[${i}]: ${err instanceof KeyFormatError ? err.message : 'not an Ed25519 public key'} (give the SPKI PEM, or an identity file to serve --admin-key)`);
    }
  }
  return set;
}

/**
 * Exactly one target for every action but `bans`, made canonical; a bad one is INVALID_MSG
 * saying why. A `key` given as an agent id is the key that agent is connected with.
 */
function targetOf(msg: AdminMessage, liveKey: (agentId: string) => string | undefined): Target | null {
  const given = (['agent', 'key', 'address'] as const).filter((k) => msg[k] !== undefined);
  if (msg.action === 'bans') {
    if (given.length > 0) throw new RelayError(ErrorCode.INVALID_MSG, 'ADMIN bans lists every rule: it takes no agent, key or address');
    return null;
  }
  if (given.length !== 1) throw new RelayError(ErrorCode.INVALID_MSG, `ADMIN ${msg.action} needs exactly one target: agent (@id), key (SPKI PEM) or address (IP or CIDR)`);
  if (msg.agent !== undefined) return { kind: 'agent', value: msg.agent };
  if (msg.key !== undefined) {
    if (isAgentId(msg.key)) {
      const pem = liveKey(msg.key);
      if (pem === undefined) throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `${msg.key} is not connected with a key, so its key is unknown here; give the key itself (SPKI PEM), or name the id as agent`);
      return { kind: 'key', value: pem, agentId: msg.key };
    }
    try {
      const key = parsePublicKey(msg.key);
      return { kind: 'key', value: key.pem, agentId: key.agentId };
    } catch (err) {
      throw new RelayError(ErrorCode.INVALID_MSG, `ADMIN key: ${err instanceof KeyFormatError ? err.message : 'not an Ed25519 public key'}`);
    }
  }
  try {
    return { kind: 'address', value: parseCidr(msg.address!).text };
  } catch (err) {
    throw new RelayError(ErrorCode.INVALID_MSG, `ADMIN address: ${(err as Error).message}`);
  }
}

/** `clock` is the one rules expire by; a frame's ts is checked against real time, as every signed ts is. */
export function handleAdminFrames(relay: RelayApi, keys: SessionSlot<SessionKey>, adminKeys: ReadonlySet<string>, clock: () => number, actions: AdminActions): void {
  const replays = new ReplayCache(MAX_SIGNED_TS_SKEW_MS, MAX_REMEMBERED_ADMIN_FRAMES);

  /** Who may act, and whether this frame is theirs, fresh, for this relay and new. */
  const authenticate = (session: Session, msg: AdminMessage): void => {
    const key = keys.get(session);
    if (key === undefined || !key.verified || !adminKeys.has(key.pubkey)) {
      throw new RelayError(ErrorCode.NOT_ADMIN, 'ADMIN needs a session that proved one of this relay\'s admin keys (serve --admin-key); this one did not');
    }
    if (msg.url !== key.url) {
      throw new RelayError(ErrorCode.INVALID_SIGNATURE, `ADMIN url must be the relay URL this session proved (${key.url ?? 'none'}); sign the action for this relay`);
    }
    const now = Date.now();
    if (Math.abs(msg.ts - now) > MAX_SIGNED_TS_SKEW_MS) {
      throw new RelayError(ErrorCode.INVALID_SIGNATURE, `ADMIN ts is ${Math.round((msg.ts - now) / 1000)} s from server time (limit ±300 s); check your clock and sign it again`);
    }
    if (!verifySignature(key.key, adminSigningString(msg), msg.sig)) {
      throw new RelayError(ErrorCode.INVALID_SIGNATURE, 'ADMIN signature does not verify against your key over adminSigningString (the JSON of every field, in order)');
    }
    const seen = replays.check(msg.sig, msg.ts, now);
    if (seen === 'replay') throw new RelayError('REPLAYED', 'this ADMIN frame was already accepted; sign a new one (with a new ts) to act again');
    if (seen === 'full') throw new RelayError(ErrorCode.UNAVAILABLE, 'the relay is remembering as many admin frames as it can; try again in a minute');
  };

  relay.handle('ADMIN', {
    schema: Admin,
    async handle(session, msg) {
      authenticate(session, msg);
      const target = targetOf(msg, (agentId) => {
        const live = relay.sessions.byAgentId(agentId);
        return live === undefined ? undefined : keys.get(live)?.pubkey;
      });
      if (target === null) {
        const listed = page(actions.list(), (r) => r.key, msg.cursor);
        relay.send(session, { type: 'BANS', list: listed.list.map(({ key: _key, ...rule }) => rule), ...(listed.cursor === undefined ? {} : { cursor: listed.cursor }) });
        return;
      }
      const reason = msg.reason === undefined || msg.reason === '' ? null : msg.reason;
      const expires = msg.expires ?? null;
      if (expires !== null && (msg.action === 'kick' || msg.action === 'unban' || msg.action === 'unmute')) {
        throw new RelayError(ErrorCode.INVALID_MSG, `ADMIN ${msg.action} takes no expires: only a ban or a mute lasts`);
      }
      if (expires !== null && expires <= clock()) throw new RelayError(ErrorCode.INVALID_MSG, 'ADMIN expires is in the past: give a time to come, in ms since epoch');
      let done: { sessions: number };
      switch (msg.action) {
        case 'kick': done = actions.kick(target, reason, session); break;
        case 'ban': done = await actions.ban(target, reason, expires, session); break;
        case 'unban': done = await actions.unban(target, session); break;
        case 'mute': done = await actions.mute(target, reason, expires, session); break;
        case 'unmute': done = await actions.unmute(target, session); break;
        default: throw new RelayError(ErrorCode.INVALID_MSG, `ADMIN ${msg.action} takes no target`);
      }
      relay.send(session, {
        type: 'ADMIN_OK', action: msg.action, kind: target.kind, value: target.value, ...(target.agentId === undefined ? {} : { agent_id: target.agentId }),
        sessions: done.sessions, expires, reason,
      });
    },
  });
}
