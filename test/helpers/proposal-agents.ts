/**
 * Helpers for the proposal tests: a relay on an ephemeral loopback port and agents
 * on raw `ws` sockets (so tests assert on exactly the frames a client sees), with
 * signing helpers for every proposal step. Everything is closed at teardown.
 */
import type { ExecutionContext } from 'ava';
import WebSocket from 'ws';
import type { Relay } from '../../kernel/index.js';
import { createRelay, type RelayOptions } from '../../relay.js';
import {
  acceptSigningString, authSigningString, completeSigningString, disputeSigningString, generateKeyPair,
  proposalSigningString, rejectSigningString, signString,
  type ErrorFrame, type KeyPairPem, type ProposalFrame, type ProposalSigningFields, type ProposalStepFrame,
  type ProposalsFrame,
} from '../../protocol/index.js';

export interface Frame {
  type: string;
  [field: string]: unknown;
}

const WAIT_MS = 3000;

/** Relays started without proof of possession: their agents get no CHALLENGE. */
const unverifiedRelays = new WeakSet<Relay>();

/** A relay on 127.0.0.1, ephemeral port, silent; closed at teardown. */
export async function startRelay(t: ExecutionContext, options: RelayOptions = {}): Promise<Relay> {
  const relay = createRelay({ host: '127.0.0.1', port: 0, log: false, ...options });
  if (options.pluginOptions?.identity?.allowUnverifiedKeys === true) unverifiedRelays.add(relay);
  await relay.listen();
  t.teardown(() => relay.close());
  return relay;
}

/** One agent's socket: frames are queued until a test takes them with `next`. */
export class Agent {
  agentId = '';
  private readonly queue: Frame[] = [];
  private waiter: { match: (f: Frame) => boolean; resolve: (f: Frame) => void } | null = null;

  constructor(readonly ws: WebSocket, private readonly signer: Signer | null) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (this.waiter?.match(frame)) {
        const { resolve } = this.waiter;
        this.waiter = null;
        resolve(frame);
      } else {
        this.queue.push(frame);
      }
    });
  }

  send(frame: Frame): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Signs with this agent's private key (base64 Ed25519, as the 0.3.x client does). */
  sign(text: string): string {
    if (this.signer === null) throw new Error(`${this.agentId} has no key`);
    return this.signer(text);
  }

  /** The first queued or next arriving frame of `type` (and matching `where`). */
  next<F extends Frame = Frame>(type: string, where: (f: Frame) => boolean = () => true): Promise<F> {
    const match = (f: Frame) => f.type === type && where(f);
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0] as F);
    if (this.waiter !== null) throw new Error('one next() at a time per agent');
    return new Promise<F>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`${this.agentId}: no ${type} within ${WAIT_MS} ms; queued: ${JSON.stringify(this.queue)}`));
      }, WAIT_MS);
      this.waiter = { match, resolve: (f) => { clearTimeout(timer); resolve(f as F); } };
    });
  }

  /** Frames received and not yet taken (e.g. to prove nothing was delivered). */
  pending(type?: string): Frame[] {
    return this.queue.filter((f) => type === undefined || f.type === type);
  }

  /** A PING/PONG round trip: everything the relay sent before it has arrived. */
  async sync(): Promise<void> {
    this.send({ type: 'PING' });
    await this.next('PONG');
  }

  // ---- proposal steps, signed with this agent's key unless `sig` is given ----

  propose(fields: ProposalSigningFields & { terms?: string | null }, sig?: string): void {
    this.send({ type: 'PROPOSAL', ...fields, sig: sig ?? this.sign(proposalSigningString(fields)) });
  }

  /** Proposes and resolves with the echo, which carries the id. */
  async proposeAndWait(fields: ProposalSigningFields & { terms?: string | null }): Promise<ProposalFrame> {
    this.propose(fields);
    return this.next<ProposalFrame & Frame>('PROPOSAL', (f) => f.from === this.agentId);
  }

  accept(proposalId: string, paymentCode?: string, sig?: string): void {
    this.send({ type: 'ACCEPT', proposal_id: proposalId, payment_code: paymentCode, sig: sig ?? this.sign(acceptSigningString(proposalId, paymentCode)) });
  }

  reject(proposalId: string, reason?: string, sig?: string): void {
    this.send({ type: 'REJECT', proposal_id: proposalId, reason, sig: sig ?? this.sign(rejectSigningString(proposalId, reason)) });
  }

  complete(proposalId: string, proof?: string, sig?: string): void {
    this.send({ type: 'COMPLETE', proposal_id: proposalId, proof, sig: sig ?? this.sign(completeSigningString(proposalId, proof)) });
  }

  dispute(proposalId: string, reason: string, sig?: string): void {
    this.send({ type: 'DISPUTE', proposal_id: proposalId, reason, sig: sig ?? this.sign(disputeSigningString(proposalId, reason)) });
  }

  step(type: string, proposalId: string): Promise<ProposalStepFrame & Frame> {
    return this.next<ProposalStepFrame & Frame>(type, (f) => f.proposal_id === proposalId);
  }

  error(): Promise<ErrorFrame & Frame> {
    return this.next<ErrorFrame & Frame>('ERROR');
  }

  async list(filter: { status?: string; role?: string } = {}): Promise<ProposalsFrame & { truncated?: boolean }> {
    this.send({ type: 'LIST_PROPOSALS', ...filter });
    return this.next<ProposalsFrame & Frame>('PROPOSALS');
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** Signs the UTF-8 of a string; base64 Ed25519 signature. */
export type Signer = (text: string) => string;

export interface ConnectOptions {
  name?: string;
  /** A key pair for a persistent identity (default: a new one); null for an ephemeral agent. */
  keys?: KeyPairPem | null;
  /** Instead of `keys`: the pubkey to IDENTIFY with and how to sign (e.g. with tweetnacl). */
  identity?: { pubkey: string; sign: Signer };
}

/** An identified agent (WELCOME received), answering CHALLENGE with its key; closed at teardown. */
export async function connectAgent(t: ExecutionContext, relay: Relay, options: ConnectOptions = {}): Promise<Agent> {
  const keys = options.keys === undefined ? generateKeyPair() : options.keys;
  const identity = options.identity ?? (keys === null ? null : { pubkey: keys.publicKey, sign: (text: string) => signString(keys.privateKey, text) });
  const ws = new WebSocket(`ws://127.0.0.1:${relay.port}`);
  const agent = new Agent(ws, identity?.sign ?? null);
  t.teardown(() => agent.close());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  agent.send({ type: 'IDENTIFY', name: options.name ?? 'agent', ...(identity ? { pubkey: identity.pubkey } : {}) });
  if (identity !== null && !unverifiedRelays.has(relay)) {
    const challenge = await agent.next('CHALLENGE');
    const url = `ws://127.0.0.1:${relay.port}`;
    agent.send({ type: 'VERIFY', sig: agent.sign(authSigningString(String(challenge.server), String(challenge.nonce), url)), url });
  }
  const welcome = await agent.next('WELCOME');
  agent.agentId = String(welcome.agent_id);
  return agent;
}
