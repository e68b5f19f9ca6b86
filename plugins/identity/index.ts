/**
 * identity: IDENTIFY, ephemeral ids, Ed25519 keys with a proof of possession bound to
 * this relay (CHALLENGE/VERIFY with the dialled URL), ids bound to the key that first
 * proved them (the key registry), the newest verified session of a key displacing the
 * older one, verified MSG signatures that cannot be replayed, WHOIS.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { CloseCode, ErrorCode } from '../../protocol/errors.js';
import { agentIdFromPem, KeyFormatError, parsePublicKey, verifySignature, type PublicKey } from '../../protocol/keys.js';
import { Identify, Verify, Whois } from '../../protocol/schemas.js';
import { authSigningString, MAX_SIGNED_TS_SKEW_MS, msgSigningString } from '../../protocol/signing.js';
import { normalizeRelayUrl } from '../../protocol/urls.js';
import { RelayError, type InboundMsg, type Plugin, type RelayApi, type Session, type SessionSlot } from '../../kernel/types.js';
import { behind } from '../committed.js';
import { KeyRegistry, type RegisteredKey } from './registry.js';
import { acceptedUrls, acceptsUrl, type AcceptedUrl } from './relay-urls.js';
import { ReplayCache } from './replay.js';
import { BUSY, defaultVerifyThreads, SignatureVerifier, type VerifierStats, type VerifyFn } from './verifier.js';

export interface IdentityOptions {
  /** Admit keys without proof of possession (0.3.x clients do not answer CHALLENGE); sessions are `verified: false`. */
  allowUnverifiedKeys?: boolean;
  /** How long a client has to answer CHALLENGE (default 10 s). */
  verifyTimeoutMs?: number;
  /** How long a connection may stay without IDENTIFY before it is closed, since it holds a session slot (default 30 s). */
  identifyTimeoutMs?: number;
  /** URLs clients reach this relay by (behind a proxy, say), besides what it listens on: proofs must name one of them. */
  publicUrls?: readonly string[];
  /** Agent ids the registry remembers (default 100,000; the one seen longest ago goes first). */
  maxRegisteredKeys?: number;
  /** A key may displace its own older session at most once per this long (default 5 s). */
  displaceIntervalMs?: number;
  /** Signed MSGs remembered to refuse replays (default 500,000; when full, signed MSGs are refused). */
  maxReplayEntries?: number;
  /**
   * MSG and proposal signatures with the check threads at once, relay-wide (default 256); more wait in arrival order.
   * 0 verifies them on the event loop, as before (one core does everything).
   */
  maxVerifiesInFlight?: number;
  /** Threads that check signatures (default: the machine's cores, at most 4). */
  verifyThreads?: number;
  /** A lone check while nothing else waits runs on the event loop, cheaper than a hand-off (default true). */
  verifyInlineWhenIdle?: boolean;
  /** 'auto' (default): libsodium (sodium-native, ~1.6× faster here) when it loads, else node:crypto; 'node:crypto': always OpenSSL. */
  ed25519?: 'auto' | 'node:crypto';
  /** Signed MSGs waiting for a verification slot, relay-wide (default 4,096); past it, RATE_LIMITED. */
  maxQueuedVerifies?: number;
  /** UTF-8 bytes of signed text those may hold, relay-wide (default 8 MiB). */
  maxQueuedVerifyBytes?: number;
  /** Replaces the check threads with one call per check; for tests that hold verifications pending. */
  verifyFn?: VerifyFn;
  /** The id of a key; for tests that need two keys with one id (grinding is not a test). */
  agentIdOf?: (pem: string, long: boolean) => string;
}

/** What identity knows of a session that IDENTIFYed with a key. */
export interface SessionKey {
  /** Canonical SPKI PEM. */
  pubkey: string;
  /** `pubkey` parsed once, for any plugin that verifies this session's signatures. */
  key: KeyObject;
  /** True when the session proved possession of the key. */
  verified: boolean;
  /** When this relay's key registry first saw the key prove its id (now, for a key new here or unverified): for gates on key age. */
  firstSeen?: number;
  /** The relay URL the proof named (normalized), for anything else the session signs for this relay; absent when unverified. */
  url?: string;
}

/** Signature checks identity made, by result (read by the metrics plugin). */
export interface SignatureCounts {
  valid: number;
  invalid: number;
  replayed: number;
}

export function signatureCounts(relay: RelayApi): SignatureCounts {
  return relay.shared<SignatureCounts>('identity.signatures', () => ({ valid: 0, invalid: 0, replayed: 0 }));
}

/** The key that proved an agent id on this relay (or, in a cluster, on any of its relays), from the key registry. */
export function registeredKey(relay: RelayApi): (agentId: string) => RegisteredKey | undefined {
  return relay.shared<(agentId: string) => RegisteredKey | undefined>('identity.registry', () => () => undefined);
}

/** The signature verifier's counters (in flight, queued, peaks), or undefined before identity is set up. */
export function signatureVerifier(relay: RelayApi): Readonly<VerifierStats> | undefined {
  return sharedVerifier(relay)?.stats;
}

/**
 * The relay's signature verifier, for any plugin that checks a session's signatures (proposals do):
 * its checks then share the threads and the relay-wide bounds. Undefined before identity is set up.
 */
export function sharedVerifier(relay: RelayApi): SignatureVerifier | undefined {
  return relay.shared<{ verifier?: SignatureVerifier }>('identity.verifier', () => ({})).verifier;
}

/** Tell a session a newer one proved its key (`where`: e.g. "on another relay of this cluster"), and close it with 4001. */
export function displace(relay: RelayApi, older: Session, where = ''): void {
  relay.send(older, { type: 'SESSION_DISPLACED', reason: `a newer session proved the same key${where === '' ? '' : ` ${where}`}; this one is closed (do not reconnect automatically)` });
  relay.disconnect(older, CloseCode.DISPLACED, 'displaced by a newer session');
}

/** The identity plugin's slot: a session's key, or undefined for an ephemeral agent (or before IDENTIFY). */
export function sessionKeys(relay: RelayApi): SessionSlot<SessionKey> {
  return relay.sessionSlot<SessionKey>('identity.key');
}

export const IDENTITY_DEFAULTS = {
  allowUnverifiedKeys: false,
  verifyTimeoutMs: 10_000,
  identifyTimeoutMs: 30_000,
  publicUrls: [] as readonly string[],
  maxRegisteredKeys: 100_000,
  displaceIntervalMs: 5_000,
  maxReplayEntries: 500_000,
  maxVerifiesInFlight: 256,
  verifyThreads: defaultVerifyThreads(),
  verifyInlineWhenIdle: true,
  ed25519: 'auto' as 'auto' | 'node:crypto',
  maxQueuedVerifies: 4096,
  maxQueuedVerifyBytes: 8 * 1024 * 1024,
  agentIdOf: agentIdFromPem,
};

interface PendingChallenge {
  key: PublicKey;
  name: string;
  nonce: string;
  cancelTimeout: () => void;
}

const EPHEMERAL_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** An ephemeral id must never look like a key's (hex) id, or it could inherit that agent's invitations. */
const HEX_ONLY = /^@[0-9a-f]{8}$/;

/** '@' + 8 chars of [a-z0-9] from the CSPRNG (rejection sampling keeps it uniform), never all hex. */
function randomAgentId(): string {
  for (;;) {
    let id = '@';
    while (id.length < 9) {
      for (const byte of randomBytes(16)) {
        if (byte < 252 && id.length < 9) id += EPHEMERAL_ALPHABET[byte % 36];
      }
    }
    if (!HEX_ONLY.test(id)) return id;
  }
}

/** Signed MSGs of one session whose checks may start while they wait behind its earlier frames (the kernel holds at most 64). */
const MAX_EARLY_CHECKS = 32;
/** An early check not taken by then belongs to a frame that was refused before its turn. */
const STALE_EARLY_CHECK_MS = 30_000;

interface EarlyCheck {
  verdict: boolean | Promise<boolean>;
  /** The text it checked the signature over. */
  signed: string;
  at: number;
}

/** What a client is told to wait when the verification queue is full: about what the queue takes to drain. */
const BUSY_RETRY_MS = 100;

const VERIFY_HOW = 'sign "AGENTCHAT-AUTH|<server>|<nonce>|<url>" with your key, <url> being the relay URL you dialled, normalized';

export function identity(defaults: IdentityOptions = {}): Plugin<IdentityOptions> {
  return {
    name: 'identity',
    async setup(relay: RelayApi, setupOptions: IdentityOptions) {
      const options = { ...IDENTITY_DEFAULTS, ...defaults, ...setupOptions };
      const { allowUnverifiedKeys, verifyTimeoutMs, identifyTimeoutMs, displaceIntervalMs, agentIdOf } = options;
      const pending = relay.sessionSlot<PendingChallenge>('identity.challenge');
      const keys = sessionKeys(relay);
      const server = relay.config.serverName;
      const registry = new KeyRegistry(options.maxRegisteredKeys);
      // The registry is durable: a restart must not let a colliding key take an id.
      const saved = relay.store.namespace('identity');
      const restored = (await saved.entries<RegisteredKey>('key:')).sort(([, a], [, b]) => a.lastSeen - b.lastSeen);
      for (const [key, record] of restored) registry.keep(key.slice('key:'.length), record);
      // In a cluster a key proved on another relay owns its id here too.
      relay.store.watch?.('identity', (key, value) => {
        if (key.startsWith('key:') && value !== undefined) registry.keep(key.slice('key:'.length), value as RegisteredKey);
      });
      relay.shared('identity.registry', () => (agentId: string) => registry.owner(agentId));
      const replays = new ReplayCache(MAX_SIGNED_TS_SKEW_MS, options.maxReplayEntries);
      const counts = signatureCounts(relay);
      for (const name of ['maxVerifiesInFlight', 'maxQueuedVerifies', 'maxQueuedVerifyBytes'] as const) {
        if (!Number.isInteger(options[name]) || options[name] < 0) throw new RangeError(`identity option ${name} must be a whole number >= 0, got ${String(options[name])}`);
      }
      if (options.ed25519 !== 'auto' && options.ed25519 !== 'node:crypto') throw new RangeError(`identity option ed25519 must be "auto" or "node:crypto", got ${JSON.stringify(options.ed25519)}`);
      const verifier = new SignatureVerifier({
        maxInFlight: options.maxVerifiesInFlight, maxQueued: options.maxQueuedVerifies, maxQueuedBytes: options.maxQueuedVerifyBytes,
        threads: options.verifyThreads, library: options.ed25519, verify: options.verifyFn, inlineWhenIdle: options.verifyInlineWhenIdle,
        onThreadFailure: (error, threadsLeft) => relay.logger.warn('signature check thread failed; its checks were done on the event loop', {
          error: error.message, next: threadsLeft ? 'a new thread takes the next checks' : 'every later check runs on the event loop',
        }),
      });
      const verifierStats = verifier.stats;
      relay.shared<{ verifier?: SignatureVerifier }>('identity.verifier', () => ({})).verifier = verifier;
      relay.hook('close', () => verifier.close());
      /** Last displacement per agent id, for the throttle. */
      const displacedAt = new Map<string, number>();
      let ownUrls: AcceptedUrl[] = [];
      // A bad --public-url is a start-up error, not a VERIFY failure later.
      for (const url of options.publicUrls) normalizeRelayUrl(url);
      relay.hook('listen', (address) => {
        ownUrls = acceptedUrls(address, options.publicUrls);
      });

      /** The key goes in its slot first, so identify hooks (a policy, say) see it; a refusal takes it back. */
      const admitWithKey = (session: Session, key: PublicKey, name: string, verified: boolean, url?: string) => {
        const known = registry.owner(key.agentId);
        const firstSeen = verified && known?.pubkey === key.pem ? known.firstSeen : Date.now();
        keys.set(session, { pubkey: key.pem, key: key.key, verified, firstSeen, ...(url === undefined ? {} : { url }) });
        const taken = () => keys.delete(session);
        try {
          const result = relay.admit(session, { agentId: key.agentId, name, welcome: { verified } });
          const registered = () => {
            if (!verified || session.agentId !== key.agentId) return;
            const claim = registry.claim(key.agentId, key.pem, name, Date.now());
            if (claim === null) return;
            behind(saved.put(`key:${key.agentId}`, claim.record), `the key of ${key.agentId}`, relay.logger);
            if (claim.forgotten !== null) behind(saved.delete(`key:${claim.forgotten}`), `forgetting ${claim.forgotten}`, relay.logger);
          };
          if (result === undefined) return registered();
          return result.then(registered, (err: unknown) => {
            taken();
            throw err;
          });
        } catch (err) {
          taken();
          throw err;
        }
      };

      const uniqueEphemeralId = (): string => {
        for (;;) {
          const id = randomAgentId();
          if (!relay.sessions.byAgentId(id)) return id;
        }
      };

      /** A key may use an id no other key has proved. */
      const refuseIfOwnedByAnother = (key: PublicKey) => {
        const owner = registry.owner(key.agentId);
        if (owner !== undefined && owner.pubkey !== key.pem) {
          throw new RelayError('KEY_CONFLICT', `agent id ${key.agentId} belongs to another key on this relay; generate a new identity (agentchat identity --generate --force) to get another id`);
        }
      };

      /** Without a proof there is no taking over: an unverified key waits for its other session to close. */
      const refuseIfConnected = (agentId: string) => {
        if (relay.sessions.byAgentId(agentId)) {
          throw new RelayError(ErrorCode.INVALID_MSG, `identity ${agentId} is already connected in another session; close that one first`);
        }
      };

      /** The newest proof wins: the older session of this key is told and closed, at most once per displaceIntervalMs. */
      const displaceOlder = (agentId: string) => {
        const older = relay.sessions.byAgentId(agentId);
        if (older === undefined) return;
        const now = Date.now();
        const last = displacedAt.get(agentId);
        if (last !== undefined && now - last < displaceIntervalMs) {
          const wait = displaceIntervalMs - (now - last);
          throw new RelayError(ErrorCode.RATE_LIMITED, `${agentId} took over its own session ${Math.round((now - last) / 1000)} s ago; two copies of this agent are fighting over it: stop one, or retry after ${wait} ms`, { retry_after_ms: wait });
        }
        displacedAt.set(agentId, now);
        displace(relay, older);
      };
      relay.every(Math.max(1_000, displaceIntervalMs), () => {
        const cutoff = Date.now() - displaceIntervalMs;
        for (const [id, at] of displacedAt) if (at < cutoff) displacedAt.delete(id);
      });

      relay.handle('IDENTIFY', {
        schema: Identify,
        beforeIdentify: true,
        handle(session, msg) {
          if (session.agentId !== null) {
            throw new RelayError(ErrorCode.INVALID_MSG, `already identified as ${session.agentId}; open another connection for another identity`);
          }
          if (pending.get(session) !== undefined) throw new RelayError(ErrorCode.INVALID_MSG, 'IDENTIFY already sent: answer the CHALLENGE with VERIFY');
          if (msg.pubkey === undefined || msg.pubkey === null) {
            return relay.admit(session, { agentId: uniqueEphemeralId(), name: msg.name });
          }
          let key: PublicKey;
          try {
            key = parsePublicKey(msg.pubkey);
          } catch (err) {
            throw new RelayError(ErrorCode.INVALID_MSG, err instanceof KeyFormatError ? err.message : 'pubkey is not a usable Ed25519 key');
          }
          key = { ...key, agentId: agentIdOf(key.pem, msg.long_id === true) };
          refuseIfOwnedByAnother(key);
          if (allowUnverifiedKeys) {
            refuseIfConnected(key.agentId);
            return admitWithKey(session, key, msg.name, false);
          }
          const nonce = randomBytes(32).toString('base64');
          const cancelTimeout = relay.after(verifyTimeoutMs, () => {
            if (pending.get(session) === undefined) return;
            pending.delete(session);
            relay.error(session, ErrorCode.VERIFY_FAILED, `no VERIFY within ${verifyTimeoutMs / 1000} s of CHALLENGE; ${VERIFY_HOW}`);
            relay.disconnect(session, CloseCode.POLICY, 'verify timeout');
          });
          pending.set(session, { key, name: msg.name, nonce, cancelTimeout });
          relay.send(session, { type: 'CHALLENGE', nonce, server });
        },
      });

      const verifyFailed = (session: Session, message: string) => {
        relay.error(session, ErrorCode.VERIFY_FAILED, message, { ref: 'VERIFY' });
        relay.disconnect(session, CloseCode.POLICY, 'verify failed');
      };

      relay.handle('VERIFY', {
        schema: Verify,
        beforeIdentify: true,
        handle(session, msg) {
          const challenge = pending.get(session);
          if (!challenge) throw new RelayError(ErrorCode.INVALID_MSG, 'no CHALLENGE is pending: send IDENTIFY with a pubkey first');
          pending.delete(session);
          challenge.cancelTimeout();
          if (msg.url === undefined) {
            return verifyFailed(session, `VERIFY must carry the url you dialled, and the proof must cover it: ${VERIFY_HOW} (an older client signed without it; upgrade it)`);
          }
          let url: string;
          try {
            url = normalizeRelayUrl(msg.url);
          } catch (err) {
            return verifyFailed(session, `VERIFY url: ${(err as Error).message}`);
          }
          if (url !== msg.url) return verifyFailed(session, `VERIFY url must be normalized as ${url} (lower-case scheme and host, explicit port, no trailing /)`);
          if (!acceptsUrl(ownUrls, url)) {
            return verifyFailed(session, `this proof is for ${url}, which is not this relay: a proof made for one relay is refused on another. If clients reach this relay at that URL through a proxy, its operator adds --public-url ${url}`);
          }
          if (!verifySignature(challenge.key.key, authSigningString(server, challenge.nonce, url), msg.sig)) {
            return verifyFailed(session, `VERIFY signature does not match the pubkey you sent; ${VERIFY_HOW}, with its private key`);
          }
          refuseIfOwnedByAnother(challenge.key);
          displaceOlder(challenge.key.agentId);
          return admitWithKey(session, challenge.key, challenge.name, true, url);
        },
      });

      relay.handle('WHOIS', {
        schema: Whois,
        handle(session, msg) {
          const target = relay.sessions.byAgentId(msg.agent);
          const cluster = relay.cluster;
          if (!target && cluster !== null) {
            return cluster.online(msg.agent).then((online) => {
              if (!online) throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `agent ${msg.agent} is not connected`);
              // Connected to another relay of the cluster: what the registry knows (an ephemeral agent has no key there).
              const known = registry.owner(msg.agent);
              relay.send(session, { type: 'WHOIS', agent: msg.agent, name: known?.name ?? null, pubkey: known?.pubkey ?? null, verified: known !== undefined });
            });
          }
          if (!target) throw new RelayError(ErrorCode.AGENT_NOT_FOUND, `agent ${msg.agent} is not connected`);
          const key = keys.get(target);
          relay.send(session, { type: 'WHOIS', agent: msg.agent, name: target.name, pubkey: key?.pubkey ?? null, verified: key?.verified ?? false });
        },
      });

      // A session's frames wait behind its pending check, so on its own a session would have one
      // check at a time. A signed MSG that arrives meanwhile has its check started now (at most
      // MAX_EARLY_CHECKS a session): by its turn the answer is there, and the threads get batches.
      // Only the signature's verdict is kept, keyed by the exact signed text and signature, so a
      // frame whose fields differ from what was checked is simply checked again at its turn.
      // Keyed by signature: two waiting frames with one signature (a replay) share the first's entry,
      // and the second, finding none, is checked at its turn (and refused as a replay).
      const early = relay.sessionSlot<Map<string, EarlyCheck>>('identity.earlyChecks');
      relay.hook('held', (session, frame) => {
        if (frame.type !== 'MSG' || typeof frame.sig !== 'string' || typeof frame.to !== 'string' || typeof frame.content !== 'string' || typeof frame.ts !== 'number') return;
        const key = keys.get(session)?.key;
        if (key === undefined) return;
        let checks = early.get(session);
        if (checks === undefined) early.set(session, (checks = new Map()));
        const now = Date.now();
        if (checks.size >= MAX_EARLY_CHECKS) {
          // A frame refused before its turn (rate limit, bad field) leaves its entry: old ones go.
          // The newest are the next frames to be handled; past the bound, a frame is checked at its turn.
          for (const [id, entry] of checks) if (now - entry.at > STALE_EARLY_CHECK_MS) checks.delete(id);
          if (checks.size >= MAX_EARLY_CHECKS) return;
        }
        const signed = msgSigningString(frame.to, frame.content, frame.ts);
        const verdict = verifier.check(key, signed, frame.sig);
        if (verdict !== BUSY) checks.set(frame.sig, { verdict, signed, at: now });
      });

      // Signed MSGs are verified before routing: a signature that fails, or was already accepted, is never relayed.
      relay.hook('message', (session: Session, msg: InboundMsg) => {
        if (msg.sig === undefined) return;
        const key = keys.get(session)?.key;
        if (key === undefined) {
          return new RelayError(ErrorCode.INVALID_SIGNATURE, 'this session has no key, so its signature cannot be verified: IDENTIFY with a pubkey to sign messages');
        }
        if (msg.ts === undefined) return new RelayError(ErrorCode.INVALID_SIGNATURE, 'a signed MSG must carry the ts it signed');
        const now = Date.now();
        const skew = msg.ts - now;
        if (Math.abs(skew) > MAX_SIGNED_TS_SKEW_MS) {
          return new RelayError(ErrorCode.INVALID_SIGNATURE, `signed ts is ${Math.round(skew / 1000)} s from server time (limit ±300 s); check your clock`);
        }
        const signed = msgSigningString(msg.to, msg.content, msg.ts);
        // Taken only for the very text it checked: the same signature over other text is checked anew.
        const checks = early.get(session);
        const started = checks?.get(msg.sig);
        if (started !== undefined) checks!.delete(msg.sig);
        const verdict = started !== undefined && started.signed === signed ? started.verdict : verifier.check(key, signed, msg.sig);
        if (verdict === BUSY) {
          return new RelayError(ErrorCode.RATE_LIMITED, `the relay has ${verifierStats.queued} signed messages waiting to be verified, its limit; retry after ${BUSY_RETRY_MS} ms`, { retry_after_ms: BUSY_RETRY_MS });
        }
        if (typeof verdict === 'boolean') return verified(session, msg, verdict, now);
        // The kernel holds this session's later frames until this settles: its order is kept.
        // The queue bound keeps the wait far below the hook timeout (4,096 checks drain in well
        // under a second), so a check is not left to finish after the kernel answered UNAVAILABLE.
        return verdict.then((ok) => verified(session, msg, ok, Date.now()));
      });

      /** The rest of a signed MSG's check, once its signature is known good or bad. */
      const verified = (session: Session, msg: InboundMsg, ok: boolean, now: number): RelayError | undefined => {
        if (!ok) {
          counts.invalid++;
          return new RelayError(ErrorCode.INVALID_SIGNATURE, 'signature does not verify against your key over JSON.stringify({to, content, ts})');
        }
        const seen = replays.check(`${session.agentId}|${msg.sig}`, msg.ts!, now);
        if (seen === 'replay') {
          counts.replayed++;
          return new RelayError('REPLAYED', 'this signed message was already relayed; sign a new one (with a new ts) to send it again');
        }
        counts.valid++;
        if (seen === 'full') return new RelayError(ErrorCode.UNAVAILABLE, 'the relay is remembering as many signed messages as it can; try again in a minute');
        return undefined;
      };

      // A connection that never identifies would hold a session slot forever (pings keep it
      // alive). Connections queue in connect order, which is deadline order: a timer closes
      // the expired ones at the head, with no timer or map entry per connection.
      const unidentified: Session[] = [];
      let head = 0;
      relay.hook('connect', (session) => {
        unidentified.push(session);
      });
      relay.every(Math.max(10, Math.min(1000, identifyTimeoutMs / 4)), () => {
        const cutoff = Date.now() - identifyTimeoutMs;
        while (head < unidentified.length && unidentified[head].connectedAt <= cutoff) {
          const session = unidentified[head++];
          if (session.agentId !== null || !session.open) continue;
          relay.error(session, ErrorCode.AUTH_REQUIRED, `no IDENTIFY within ${identifyTimeoutMs / 1000} s of connecting; closing`);
          relay.disconnect(session, CloseCode.POLICY, 'identify timeout');
        }
        if (head > 0 && head * 2 >= unidentified.length) {
          unidentified.splice(0, head);
          head = 0;
        }
      });

      relay.hook('disconnect', (session) => {
        pending.get(session)?.cancelTimeout();
      });
    },
  };
}
