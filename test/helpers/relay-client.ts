/**
 * A small raw-protocol test client over `ws`: send frames (or raw text / binary),
 * await the next frame of a type, identify with or without a key. Every relay and
 * client made here is closed at `t.teardown`.
 *
 *   const relay = await startRelay(t, { rateMsg: { burst: 3, perSec: 1 } });
 *   const alice = await connect(t, relay);
 *   await alice.identify('alice');
 *   alice.send({ type: 'JOIN', channel: '#general' });
 *   const joined = await alice.next('JOINED');
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import WebSocket from 'ws';
import type { Relay } from '../../kernel/index.js';
import { createRelay, type RelayOptions } from '../../relay.js';
import { generateKeyPair, signString, type KeyPairPem } from '../../protocol/keys.js';
import { authSigningString, msgSigningString } from '../../protocol/signing.js';
import { normalizeRelayUrl } from '../../protocol/urls.js';

/** A frame as the relay sent it: always an object with a type (and, per protocol, a ts). */
export interface Frame {
  type: string;
  ts: number;
  [field: string]: unknown;
}

export interface Closed {
  code: number;
  reason: string;
}

export const DEFAULT_TIMEOUT_MS = 3000;

/** The limits plugin's options with every per-address limit off, for tests whose many clients all come from 127.0.0.1. */
export const NO_ADDRESS_LIMITS = { maxConnsPerIp: 0, connRatePerIp: 0, maxSessionsPerIp: 0 } as const;

/** A relay on 127.0.0.1, ephemeral port, silent unless `log` is given; closed at teardown. */
export async function startRelay(t: ExecutionContext, options: RelayOptions = {}): Promise<Relay> {
  const relay = createRelay({ port: 0, host: '127.0.0.1', log: false, ...options });
  await relay.listen();
  t.teardown(() => relay.close());
  return relay;
}

export interface RelayProcess {
  port: number;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process ended. */
  exited: Promise<number | string>;
}

/**
 * A relay in a child process (test/fixtures/relay-process.ts), for tests where a bug
 * could crash the process: the crash then fails that test, not the test worker.
 * Killed at teardown.
 */
export async function startRelayProcess(t: ExecutionContext, options: Record<string, unknown> = {}): Promise<RelayProcess> {
  const script = fileURLToPath(new URL('../fixtures/relay-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay process did not start in 10 s; stderr: ${stderr.slice(0, 500)}`)), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    void exited.then((code) => reject(new Error(`relay process exited (${code}) before listening; stderr: ${stderr.slice(0, 500)}`)));
  });
  return { port, child, exited };
}

/** A connected (not yet identified) client; terminated at teardown. */
export async function connect(t: ExecutionContext, relay: Relay | number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RelayClient> {
  const port = typeof relay === 'number' ? relay : relay.port;
  const client = new RelayClient(new WebSocket(`ws://127.0.0.1:${port}`), timeoutMs);
  t.teardown(() => client.terminate());
  await client.opened;
  return client;
}

/** What an upgrade attempt got: the HTTP status (101 when it opened), headers, refusal body, and the client when it opened. */
export interface UpgradeResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  client: RelayClient | null;
}

/**
 * Try a WebSocket upgrade, optionally from another loopback address (`from`, e.g.
 * '127.0.0.2') or with extra request headers; an open client is terminated at teardown.
 */
export function upgrade(t: ExecutionContext, port: number, options: { from?: string; headers?: Record<string, string> } = {}): Promise<UpgradeResult> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { localAddress: options.from, headers: options.headers });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, client: null }));
      res.on('error', reject);
    });
    ws.once('upgrade', (res) => {
      const client = new RelayClient(ws);
      t.teardown(() => client.terminate());
      void client.opened.then(() => resolve({ status: 101, headers: res.headers, body: '', client }), reject);
    });
    ws.once('error', (err) => reject(err));
  });
}

/** The client of an upgrade that must have opened. */
export async function upgraded(t: ExecutionContext, port: number, options: { from?: string; headers?: Record<string, string> } = {}): Promise<RelayClient> {
  const result = await upgrade(t, port, options);
  if (result.client === null) throw new Error(`upgrade refused with HTTP ${result.status}: ${result.body.trim()}`);
  return result.client;
}

/** connect + identify in one step. */
export async function connectAs(t: ExecutionContext, relay: Relay | number, name: string, keypair?: KeyPairPem): Promise<RelayClient> {
  const client = await connect(t, relay);
  await client.identify(name, keypair);
  return client;
}

/** A fresh Ed25519 key pair (SPKI PEM public, PKCS#8 PEM private). */
export const newKeyPair = (): KeyPairPem => generateKeyPair();

/** The persistent id the protocol assigns a key: '@' + 8 hex of sha256(SPKI PEM), computed here independently. */
export function expectedAgentId(publicKey: string): string {
  const pem = createPublicKey(publicKey).export({ type: 'spki', format: 'pem' }).toString();
  return '@' + createHash('sha256').update(pem).digest('hex').slice(0, 8);
}

/** A signed MSG frame as a client sends it. */
export function signedMsg(keypair: KeyPairPem, to: string, content: string, ts = Date.now()): Frame {
  return { type: 'MSG', to, content, ts, sig: signString(keypair.privateKey, msgSigningString(to, content, ts)) };
}

/**
 * Await the ERROR a refused request gets, check its code (and `ref` when given),
 * then prove the session lives on with PING → PONG. Returns the ERROR.
 */
export async function expectRefused(t: ExecutionContext, client: RelayClient, code: string, ref?: string): Promise<Frame> {
  const error = await client.next('ERROR');
  t.is(error.code, code, `expected ERROR ${code}, got ${String(error.code)}: ${String(error.message)}`);
  t.is(typeof error.message, 'string');
  if (ref !== undefined) t.is(error.ref, ref);
  await client.ping();
  return error;
}

interface Waiter {
  types: readonly string[];
  predicate: (frame: Frame) => boolean;
  resolve: (frame: Frame) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class RelayClient {
  /** Every frame received, in arrival order (consumed or not). */
  readonly received: Frame[] = [];
  /** Anything received that is not a JSON object with a string type (the relay must never send it). */
  readonly malformed: string[] = [];
  /** Resolves when the connection closes, with the close code and reason. */
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;
  /** Set by identify(): the WELCOME's agent_id. */
  agentId = '';
  private readonly unread: Frame[] = [];
  private readonly waiters = new Set<Waiter>();
  private closeInfo: Closed | null = null;
  /** The URL dialled, normalized: what a proof of key possession names. */
  readonly url: string;

  constructor(
    readonly ws: WebSocket,
    readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {
    this.url = normalizeRelayUrl(ws.url);
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    // Errors after open (e.g. ECONNRESET) surface as a close; never as an unhandled event.
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const waiter of this.waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error(`connection closed (${code} ${reason.toString()}) while waiting for ${describe(waiter.types)}; ${this.tail()}`));
        }
        this.waiters.clear();
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (data, isBinary) => this.onFrame(data as Buffer, isBinary));
  }

  /** True while the socket is open. */
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a frame as JSON text. */
  send(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Send raw text as one text frame. */
  sendRaw(text: string): void {
    this.ws.send(text, { binary: false });
  }

  /** Send a binary frame. */
  sendBinary(data: Uint8Array): void {
    this.ws.send(data, { binary: true });
  }

  /**
   * The next unread frame of `type` (or of any of `types`) matching `predicate`:
   * frames already received count first; frames skipped stay unread. Rejects
   * with a clear message after the timeout or when the connection closes.
   */
  next(type: string | readonly string[], predicate: (frame: Frame) => boolean = () => true, timeoutMs = this.timeoutMs): Promise<Frame> {
    const types = typeof type === 'string' ? [type] : type;
    const index = this.unread.findIndex((f) => types.includes(f.type) && predicate(f));
    if (index >= 0) return Promise.resolve(this.unread.splice(index, 1)[0]);
    if (this.closeInfo) {
      return Promise.reject(new Error(`connection already closed (${this.closeInfo.code} ${this.closeInfo.reason}); no ${describe(types)} came; ${this.tail()}`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        types,
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe(types)}; ${this.tail()}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** The next ERROR with `code`. */
  error(code: string, timeoutMs = this.timeoutMs): Promise<Frame> {
    return this.next('ERROR', (f) => f.code === code, timeoutMs);
  }

  /** PING, then await the PONG: every frame the relay sent before it has arrived by then. */
  async ping(): Promise<Frame> {
    this.send({ type: 'PING' });
    return this.next('PONG');
  }

  /** Unread frames of `type` (optionally matching `predicate`), left unread. */
  pending(type?: string, predicate: (frame: Frame) => boolean = () => true): Frame[] {
    return this.unread.filter((f) => (type === undefined || f.type === type) && predicate(f));
  }

  /** Drop every unread frame (e.g. the AGENT_JOINED noise of a setup phase). */
  drain(): void {
    this.unread.length = 0;
  }

  /**
   * IDENTIFY; with a key pair, answer the CHALLENGE with VERIFY. Resolves with
   * WELCOME; rejects with the relay's ERROR (code and message) if refused.
   * `pubkey` overrides the key text sent (e.g. raw base64 of the same key).
   */
  async identify(name: string, keypair?: KeyPairPem, pubkey?: string): Promise<Frame> {
    const frame: Record<string, unknown> = { type: 'IDENTIFY', name };
    if (keypair) frame.pubkey = pubkey ?? keypair.publicKey;
    this.send(frame);
    let answer = await this.next(['WELCOME', 'CHALLENGE', 'ERROR']);
    if (answer.type === 'CHALLENGE' && keypair) {
      const sig = signString(keypair.privateKey, authSigningString(String(answer.server), String(answer.nonce), this.url));
      this.send({ type: 'VERIFY', sig, url: this.url });
      answer = await this.next(['WELCOME', 'ERROR']);
    }
    if (answer.type !== 'WELCOME') throw new Error(`IDENTIFY ${name} refused: ${answer.code} ${answer.message}`);
    this.agentId = String(answer.agent_id);
    return answer;
  }

  /** JOIN and await its JOINED. */
  async join(channel: string): Promise<Frame> {
    this.send({ type: 'JOIN', channel });
    return this.next('JOINED', (f) => f.channel === channel);
  }

  /** Close the connection normally and wait for the close to complete. */
  async close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    return this.closed;
  }

  /** Drop the connection at once (teardown). */
  terminate(): void {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    const text = data.toString('utf8');
    let frame: unknown;
    try {
      frame = isBinary ? undefined : JSON.parse(text);
    } catch {
      frame = undefined;
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame) || typeof (frame as Frame).type !== 'string') {
      this.malformed.push((isBinary ? '[binary] ' : '') + text.slice(0, 200));
      return;
    }
    const f = frame as Frame;
    this.received.push(f);
    for (const waiter of this.waiters) {
      if (waiter.types.includes(f.type) && waiter.predicate(f)) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.resolve(f);
        return;
      }
    }
    this.unread.push(f);
  }

  /** The last frames received, for failure messages. */
  private tail(): string {
    const last = this.received.slice(-6).map((f) => (f.type === 'ERROR' ? `ERROR ${f.code}` : f.type));
    return last.length ? `last frames received: ${last.join(', ')}` : 'no frame received';
  }
}

function describe(types: readonly string[]): string {
  return types.length === 1 ? types[0] : `one of ${types.join('/')}`;
}
