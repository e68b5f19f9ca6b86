/**
 * Moderation test helpers: ADMIN frames signed as the protocol says (built here from
 * adminSigningString, the one canonical string), and a relay whose admin key is known.
 */
import type { ExecutionContext } from 'ava';
import type { Relay } from '../../kernel/index.js';
import { signString, type KeyPairPem } from '../../protocol/keys.js';
import { adminSigningString, type AdminSigningFields } from '../../protocol/signing.js';
import type { RelayOptions } from '../../relay.js';
import { connectAs, newKeyPair, NO_ADDRESS_LIMITS, startRelay, type Frame, type RelayClient } from './relay-client.js';

export type AdminFields = Omit<AdminSigningFields, 'url' | 'ts'> & { url?: string; ts?: number };

/** An ADMIN frame for `client`'s relay URL, signed with `keys` (pass other keys to forge one). */
export function adminFrame(client: RelayClient, keys: KeyPairPem, fields: AdminFields): Frame {
  const signed: AdminSigningFields = { url: client.url, ts: Date.now(), ...fields };
  const frame: Frame = { type: 'ADMIN', ts: signed.ts, url: signed.url, action: signed.action, sig: signString(keys.privateKey, adminSigningString(signed)) };
  for (const field of ['agent', 'key', 'address', 'expires', 'reason', 'cursor'] as const) {
    if (signed[field] !== undefined) frame[field] = signed[field];
  }
  return frame;
}

/** Send a signed ADMIN frame from `admin` and await its answer (ADMIN_OK or BANS) or its ERROR. */
export async function act(admin: RelayClient, keys: KeyPairPem, fields: AdminFields): Promise<Frame> {
  admin.send(adminFrame(admin, keys, fields));
  return admin.next(['ADMIN_OK', 'BANS', 'ERROR']);
}

export interface ModeratedRelay {
  relay: Relay;
  adminKeys: KeyPairPem;
  /** The operator's session, identified with the admin key. */
  admin: RelayClient;
}

/** A relay (per-address limits off) whose moderation plugin trusts one fresh admin key, and that key's session. */
export async function moderatedRelay(t: ExecutionContext, options: RelayOptions = {}, moderation: Record<string, unknown> = {}): Promise<ModeratedRelay> {
  const adminKeys = newKeyPair();
  const relay = await startRelay(t, {
    ...options,
    pluginOptions: { limits: NO_ADDRESS_LIMITS, ...options.pluginOptions, moderation: { adminKeys: [adminKeys.publicKey], ...moderation } },
  });
  const admin = await connectAs(t, relay, 'operator', adminKeys);
  return { relay, adminKeys, admin };
}
