/**
 * A load generator process: hosts many `ws` client agents, drives them on command from the bench
 * over IPC, and verifies what they receive (run id, per-sender order, counts, latency).
 * Every loop here is bounded by a count and a duration and ends by itself.
 */
import { createPrivateKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import { authSigningString, msgSigningString } from '../../protocol/signing.js';
import { normalizeRelayUrl } from '../../protocol/urls.js';
import { Histogram } from '../stats.js';
import { maskedFrame, RawSocket } from './raw.js';
import type {
  AgentSpec,
  CeilingReply,
  Command,
  ConnectReply,
  Counts,
  PingReply,
  PublishReply,
  Reply,
  RunReport,
} from './ipc.js';

const IDENTIFY_TIMEOUT_MS = 20_000;
const CLOSE_TIMEOUT_MS = 5_000;
const hrNow = (): number => Number(process.hrtime.bigint());

interface Waiter {
  expect: string;
  channel?: string;
  resolve: (frame: Frame) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

type Frame = Record<string, unknown> & { type?: unknown };

interface PingPair {
  peer: string;
  idx: number;
  seq: number;
  outstanding: boolean;
  nextDue: number;
}

/** What the worker needs of a socket: a `ws` client or a raw one. */
type AgentSocket = Pick<WebSocket, 'url' | 'readyState' | 'terminate' | 'once' | 'on'> & { send(data: string | Buffer): void };

class Agent {
  id = '';
  ws!: AgentSocket;
  raw: RawSocket | null = null;
  waiter: Waiter | null = null;
  /** Per-sender next expected seq, valid for run `runId`. */
  next = new Map<number, number>();
  runId = -1;
  recv0 = 0;
  closedByUs = false;
  privateKey: KeyObject | null = null;
  publicPem = '';
  pair: PingPair | null = null;
  /** Presigned MSG frames: text for a `ws` agent, pre-built frames for a raw one. */
  signed: Array<string | Buffer> = [];
  /** Next presigned MSG to send; and, during signedMax, what a received echo does. */
  signedNext = 0;
  onEcho: (() => void) | null = null;

  constructor(readonly key: string, readonly name: string) {}

  request(frame: object, expect: string, channel?: string): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`${this.key}: no ${expect} within ${IDENTIFY_TIMEOUT_MS} ms`));
      }, IDENTIFY_TIMEOUT_MS);
      this.waiter = { expect, channel, resolve, reject, timer };
      this.ws.send(JSON.stringify(frame));
    });
  }

  settle(frame: Frame): boolean {
    const w = this.waiter;
    if (!w) return false;
    const match = frame.type === 'ERROR' || (frame.type === w.expect && (w.channel === undefined || frame.channel === w.channel));
    if (!match) return false;
    clearTimeout(w.timer);
    this.waiter = null;
    w.resolve(frame);
    return true;
  }

  fail(err: Error): void {
    const w = this.waiter;
    if (!w) return;
    clearTimeout(w.timer);
    this.waiter = null;
    w.reject(err);
  }
}

interface RunState extends Omit<RunReport, 'hist' | 'agents'> {
  hist: Histogram;
}

function newRun(run: number): RunState {
  return {
    run, received: 0, agentJoined: 0, presenceBatches: 0, joined: 0, echoes: 0, pingsSeen: 0, closes: 0, errors: 0,
    orderErrors: 0, stray: 0, replay: 0, other: 0, hist: new Histogram(), lastRecvNs: 0,
    errorCodes: {}, closeCodes: {}, firstError: '',
  };
}

const agents = new Map<string, Agent>();
/** Channels this worker has created or seen created: later joiners JOIN, the first CREATEs. */
const channelGates = new Map<string, Promise<void>>();
let run = newRun(0);
let progressTimer: NodeJS.Timeout | null = null;
let creditListener: ((allowed: number) => void) | null = null;
const pingState = { onPong: (_a: Agent, _now: number): void => {} };

function noteError(code: string, message: string): void {
  run.errors++;
  run.errorCodes[code] = (run.errorCodes[code] ?? 0) + 1;
  if (!run.firstError) run.firstError = `${code}: ${message}`;
}

const AGENT_JOINED = Buffer.from('"AGENT_JOINED"');
const AGENTS_FIELD = Buffer.from('"agents"');
const AGENT_LEFT = Buffer.from('"AGENT_LEFT"');

function onFrame(a: Agent, data: WebSocket.RawData): void {
  const now = hrNow();
  // Joining a 1,000-member channel sends half a million AGENT_JOINED: count those without
  // parsing, so the generator stays cheaper than the relay it measures. (Bench contents never
  // contain these words; a frame this short cannot be a MSG carrying them by accident.)
  if (data instanceof Buffer && data.length < 200) {
    // A batched one (an `agents` list) is parsed below to count its agents.
    if (data.indexOf(AGENT_JOINED) >= 0 && data.indexOf(AGENTS_FIELD) < 0) {
      run.agentJoined++;
      return;
    }
    if (data.indexOf(AGENT_LEFT) >= 0) return;
  }
  let m: Frame;
  try {
    m = JSON.parse(data.toString());
  } catch {
    run.stray++;
    return;
  }
  switch (m.type) {
    case 'MSG':
      return onMsg(a, m, now);
    case 'AGENT_JOINED':
      if (Array.isArray(m.agents)) {
        run.presenceBatches++;
        run.agentJoined += m.agents.length;
      } else {
        run.agentJoined++;
      }
      return;
    case 'AGENT_LEFT':
      return;
    case 'JOINED':
      run.joined++;
      a.settle(m);
      return;
    case 'WELCOME':
      a.settle(m);
      return;
    case 'CHALLENGE':
      if (a.privateKey && typeof m.server === 'string' && typeof m.nonce === 'string') {
        const url = normalizeRelayUrl(a.ws.url);
        const sig = sign(null, Buffer.from(authSigningString(m.server, m.nonce, url)), a.privateKey).toString('base64');
        a.ws.send(JSON.stringify({ type: 'VERIFY', sig, url }));
      } else {
        a.fail(new Error('CHALLENGE for an agent without a key'));
      }
      return;
    case 'ERROR':
      if (!a.settle(m)) noteError(String(m.code), String(m.message));
      return;
    default:
      run.other++;
  }
}

function onMsg(a: Agent, m: Frame, now: number): void {
  if (m.replay) {
    run.replay++;
    return;
  }
  const c = m.content;
  if (typeof c !== 'string') {
    run.stray++;
    return;
  }
  const p = c.split('|', 5);
  if (Number(p[1]) !== run.run) {
    run.stray++;
    return;
  }
  const kind = p[0];
  if (kind === 'B' || kind === 'S') {
    if (a.runId !== run.run) {
      a.runId = run.run;
      a.next.clear();
      a.recv0 = 0;
    }
    delivered(a, Number(p[2]), Number(p[3]), now);
    if (a.onEcho !== null && kind === 'S') a.onEcho();
    if (kind === 'B') run.hist.record((now - Number(p[4])) / 1000);
  } else if (kind === 'P') {
    if (m.from === a.id) {
      run.echoes++;
      return;
    }
    run.pingsSeen++;
    a.ws.send(`{"type":"MSG","to":"${String(m.from)}","content":"Q${c.slice(1)}"}`);
  } else if (kind === 'Q') {
    if (m.from === a.id) {
      run.echoes++;
      return;
    }
    const pair = a.pair;
    if (!pair || !pair.outstanding || m.from !== pair.peer || Number(p[3]) !== pair.seq) {
      run.orderErrors++;
      return;
    }
    pair.outstanding = false;
    run.hist.record((now - Number(p[4])) / 1000);
    run.received++;
    run.lastRecvNs = now;
    pingState.onPong(a, now);
  } else {
    run.stray++;
  }
}

/** One channel delivery to `a` (a `ws` frame, or a timed raw one): per-sender order and the counts. */
function delivered(a: Agent, sender: number, seq: number, now: number): void {
  if (seq !== (a.next.get(sender) ?? 0)) run.orderErrors++;
  a.next.set(sender, seq + 1);
  if (sender === 0) a.recv0++;
  run.received++;
  if (now > run.lastRecvNs) run.lastRecvNs = now;
}

function openAgent(url: string, spec: AgentSpec): Promise<Agent> {
  const a = new Agent(spec.key, spec.name);
  if (spec.signed) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    a.privateKey = privateKey;
    a.publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }
  return new Promise((resolve, reject) => {
    let ws: AgentSocket;
    if (spec.raw) {
      a.raw = new RawSocket(url);
      ws = a.raw as unknown as AgentSocket;
    } else {
      ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: IDENTIFY_TIMEOUT_MS });
    }
    a.ws = ws;
    ws.on('open', () => resolve(a));
    ws.on('message', (data: WebSocket.RawData) => onFrame(a, data));
    ws.on('error', (err: Error) => {
      a.fail(err);
      reject(err);
    });
    ws.on('close', (code: number) => {
      a.fail(new Error(`closed (${code})`));
      if (!a.closedByUs) {
        run.closes++;
        run.closeCodes[code] = (run.closeCodes[code] ?? 0) + 1;
      }
      agents.delete(a.key);
    });
  });
}

async function joinChannel(a: Agent, channel: string, exists = false): Promise<void> {
  if (exists && !channelGates.has(channel)) channelGates.set(channel, Promise.resolve());
  const gate = channelGates.get(channel);
  if (gate) {
    await gate.catch(() => undefined);
    return joinOrCreate(a, channel, 'JOIN');
  }
  const created = joinOrCreate(a, channel, 'CREATE_CHANNEL');
  channelGates.set(channel, created);
  return created;
}

/** The first agent here creates the channel; a relay that says it exists / is missing gets the other verb. */
async function joinOrCreate(a: Agent, channel: string, verb: 'JOIN' | 'CREATE_CHANNEL'): Promise<void> {
  let r = await a.request({ type: verb, channel }, 'JOINED', channel);
  if (r.type === 'ERROR') {
    const retry = verb === 'CREATE_CHANNEL' && r.code === 'CHANNEL_EXISTS' ? 'JOIN'
      : verb === 'JOIN' && r.code === 'CHANNEL_NOT_FOUND' ? 'CREATE_CHANNEL' : null;
    if (!retry) throw new Error(`${verb} ${channel}: ${String(r.code)} ${String(r.message)}`);
    r = await a.request({ type: retry, channel }, 'JOINED', channel);
    if (r.type === 'ERROR') throw new Error(`${retry} ${channel}: ${String(r.code)} ${String(r.message)}`);
  }
}

async function connectOne(url: string, spec: AgentSpec, ids: Record<string, string>): Promise<void> {
  const a = await openAgent(url, spec);
  agents.set(a.key, a);
  const identify = a.privateKey ? { type: 'IDENTIFY', name: a.name, pubkey: a.publicPem } : { type: 'IDENTIFY', name: a.name };
  const w = await a.request(identify, 'WELCOME');
  if (w.type !== 'WELCOME') throw new Error(`IDENTIFY: ${String(w.code)} ${String(w.message)}`);
  a.id = String(w.agent_id);
  ids[a.key] = a.id;
  if (spec.channel) await joinChannel(a, spec.channel, spec.channelExists);
}

/** Run fn over items with at most `limit` in flight; count failures, keep the first message. */
async function limited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<{ failed: number; firstError: string }> {
  let next = 0;
  let failed = 0;
  let firstError = '';
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        failed++;
        if (!firstError) firstError = (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return { failed, firstError };
}

function agentOf(key: string): Agent {
  const a = agents.get(key);
  if (!a) throw new Error(`no open agent ${key} in this worker`);
  return a;
}

function content(kind: string, runId: number, idx: number, seq: number, t: number, size: number): string {
  return `${kind}|${runId}|${idx}|${seq}|${t}|`.padEnd(size, 'x');
}

function presign(cmd: Extract<Command, { op: 'presign' }>): number {
  let n = 0;
  for (const s of cmd.senders) {
    const a = agentOf(s.key);
    if (!a.privateKey) throw new Error(`${s.key} has no key`);
    a.signed = [];
    for (let seq = 0; seq < cmd.perSender; seq++) {
      const text = content('S', cmd.run, s.idx, seq, 0, cmd.size);
      const ts = Date.now();
      const sig = sign(null, Buffer.from(msgSigningString(s.to, text, ts)), a.privateKey).toString('base64');
      const frame = JSON.stringify({ type: 'MSG', to: s.to, content: text, ts, sig });
      a.signed.push(a.raw ? maskedFrame(frame) : frame);
      n++;
    }
  }
  return n;
}

function publish(cmd: Extract<Command, { op: 'publish' }>): Promise<PublishReply> {
  const senders = cmd.senders.map((s) => {
    const a = agentOf(s.key);
    // A raw sender whose receivers only count (untimed): one pre-built frame serves every message.
    const frame = a.raw && cmd.kind === 'B' && cmd.timed !== true ? maskedFrame(`{"type":"MSG","to":"${s.to}","content":"${content('B', cmd.run, s.idx, 0, 0, cmd.size)}"}`) : null;
    return { a, to: s.to, idx: s.idx, seq: 0, frame };
  });
  const corked = senders.filter((s) => s.a.raw !== null).map((s) => s.a.raw!);
  const k = senders.length;
  const maxTotal = cmd.maxPerSender * k;
  const rateTotal = cmd.ratePerSender * k; // per second
  const flow = cmd.ratePerSender === 0;
  const tickNs = cmd.tickMs * 1e6;
  let allowed = cmd.window;
  let total = 0;
  let firstNs = 0;
  let lastNs = 0;
  const start = hrNow();
  // Fixed rate: the schedule (maxPerSender each) decides the count, the clock only guards against
  // a generator that cannot keep up. Flow control: the duration decides.
  const endNs = start + (flow ? cmd.durationMs : 2 * cmd.durationMs + 2000) * 1e6;
  return new Promise((resolve) => {
    let waiting = false;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      creditListener = null;
      clearTimeout(deadline);
      resolve({ sent: senders.map((s) => s.seq), total, expected: flow ? 0 : maxTotal, rate: rateTotal, firstNs, lastNs });
    };
    const deadline = setTimeout(() => {
      if (waiting) finish();
    }, (endNs - start) / 1e6 + 1);
    creditListener = (n) => {
      allowed = n;
      if (waiting) {
        waiting = false;
        setImmediate(tick);
      }
    };
    const tick = (): void => {
      if (done) return;
      let now = hrNow();
      if (now >= endNs || total >= maxTotal) return finish();
      // Due so far: evenly paced, the next one by now; ticked, all of the current tick's.
      const due = tickNs > 0 ? Math.ceil(((Math.floor((now - start) / tickNs) + 1) * tickNs * rateTotal) / 1e9) : Math.floor(((now - start) * rateTotal) / 1e9) + 1;
      const target = flow ? Math.min(allowed, maxTotal) : Math.min(maxTotal, due);
      let n = Math.min(target - total, 256);
      for (const r of corked) r.cork();
      while (n-- > 0) {
        const s = senders[total % k];
        now = hrNow();
        if (s.frame !== null) {
          s.a.ws.send(s.frame);
        } else if (cmd.kind === 'S') {
          s.a.ws.send(s.a.signed[s.seq]);
        } else {
          s.a.ws.send(`{"type":"MSG","to":"${s.to}","content":"${content('B', cmd.run, s.idx, s.seq, now, cmd.size)}"}`);
        }
        if (total === 0) firstNs = now;
        lastNs = now;
        s.seq++;
        total++;
      }
      for (const r of corked) r.uncork();
      if (flow) {
        if (total < Math.min(allowed, maxTotal)) setImmediate(tick);
        else waiting = true;
      } else if (target - total > 0) {
        setImmediate(tick);
      } else {
        const elapsed = hrNow() - start;
        const nextNs = tickNs > 0 ? (Math.floor(elapsed / tickNs) + 1) * tickNs : (total / rateTotal) * 1e9;
        setTimeout(tick, Math.max(0, Math.min((nextNs - elapsed) / 1e6, tickNs > 0 ? cmd.tickMs : 5)));
      }
    };
    tick();
  });
}

function signedMax(cmd: Extract<Command, { op: 'signedMax' }>): Promise<PublishReply> {
  const senders = cmd.senders.map((s) => agentOf(s.key));
  const start = hrNow();
  const endNs = start + cmd.durationMs * 1e6;
  let total = 0;
  let firstNs = 0;
  let lastNs = 0;
  return new Promise((resolve) => {
    let active = senders.length;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      for (const a of senders) a.onEcho = null;
      resolve({ sent: senders.map((a) => a.signedNext), total, expected: 0, rate: 0, firstNs, lastNs });
    };
    // Echoes that stop coming (a loss) must not keep the run open: the bench reports what is missing.
    const deadline = setTimeout(finish, cmd.durationMs + 5000);
    // Raw senders write what their echoes freed once per loop turn, in one write each.
    const due = new Map<RawSocket, Buffer[]>();
    let flushing = false;
    const flush = (): void => {
      flushing = false;
      for (const [raw, frames] of due) raw.sendMany(frames);
      due.clear();
    };
    const sendNext = (a: Agent): boolean => {
      const now = hrNow();
      if (now >= endNs || a.signedNext >= a.signed.length) return false;
      const frame = a.signed[a.signedNext++];
      if (a.raw !== null && typeof frame !== 'string') {
        const list = due.get(a.raw);
        if (list) list.push(frame);
        else due.set(a.raw, [frame]);
        if (!flushing) {
          flushing = true;
          setImmediate(flush);
        }
      } else {
        a.ws.send(frame);
      }
      if (total === 0) firstNs = now;
      lastNs = now;
      total++;
      return true;
    };
    for (const a of senders) {
      a.signedNext = 0;
      let stopped = false;
      a.onEcho = () => {
        if (!stopped && !sendNext(a)) {
          stopped = true;
          if (--active === 0) finish();
        }
      };
      for (let i = 0; i < cmd.window; i++) sendNext(a);
    }
  });
}

function ping(cmd: Extract<Command, { op: 'ping' }>): Promise<PingReply> {
  const unpaced = cmd.ratePerPair === 0;
  const intervalNs = unpaced ? 0 : 1e9 / cmd.ratePerPair;
  const perPair = unpaced ? Infinity : Math.max(1, Math.round((cmd.ratePerPair * cmd.durationMs) / 1000));
  const start = hrNow();
  // Paced: the schedule decides the count; the clock only stops a run whose round trips cannot
  // keep up. Unpaced: the clock decides.
  const giveUpNs = start + (unpaced ? cmd.durationMs : 2 * cmd.durationMs + 2000) * 1e6;
  const pairs = cmd.pairs.map((p, i) => {
    const a = agentOf(p.key);
    // Spread first pings over one interval so pairs do not fire in lockstep.
    a.pair = { peer: p.peer, idx: p.idx, seq: -1, outstanding: false, nextDue: start + (intervalNs * i) / cmd.pairs.length };
    return a;
  });
  let pings = 0;
  let pongs = 0;
  let firstNs = 0;
  let lastNs = 0;
  const send = (a: Agent, now: number): void => {
    const pair = a.pair as PingPair;
    pair.seq++;
    pair.outstanding = true;
    // After a stall, pings go back to back (one in flight) until the schedule is caught up.
    pair.nextDue += intervalNs;
    a.ws.send(`{"type":"MSG","to":"${pair.peer}","content":"${content('P', cmd.run, pair.idx, pair.seq, now, cmd.size)}"}`);
    if (pings === 0) firstNs = now;
    pings++;
  };
  const due = (a: Agent, now: number): boolean => {
    const pair = a.pair as PingPair;
    return !pair.outstanding && pair.seq + 1 < perPair && now >= pair.nextDue && now < giveUpNs;
  };
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | null = null;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      pingState.onPong = () => {};
      for (const a of pairs) a.pair = null;
      resolve({ pings, expected: unpaced ? 0 : perPair * pairs.length, pongs, firstNs, lastNs });
    };
    const allDone = (): boolean =>
      pongs === pings && (unpaced ? hrNow() >= giveUpNs : pairs.every((a) => (a.pair as PingPair).seq + 1 >= perPair));
    pingState.onPong = (a, now) => {
      pongs++;
      lastNs = now;
      if (due(a, now)) send(a, now);
      else if (allDone()) finish();
    };
    const tick = (): void => {
      const now = hrNow();
      if (allDone()) return finish();
      if (now >= giveUpNs + 2e9) return finish(); // what is still missing is reported as lost
      for (const a of pairs) if (due(a, now)) send(a, now);
      timer = setTimeout(tick, 1);
    };
    tick();
  });
}

function counts(): Counts {
  const { run: r, received, agentJoined, presenceBatches, joined, echoes, pingsSeen, closes, errors } = run;
  return { run: r, received, agentJoined, presenceBatches, joined, echoes, pingsSeen, closes, errors };
}

function collect(): RunReport {
  const { hist, ...rest } = run;
  return { ...rest, hist: hist.toSparse(), agents: agents.size };
}

const hasPrefix = (key: string, prefixes: string[]): boolean => prefixes.some((p) => key.startsWith(p));

function arm(runId: number, flow: string[] | undefined, count: boolean, timed: boolean): void {
  run = newRun(runId);
  if (progressTimer) clearInterval(progressTimer);
  progressTimer = null;
  for (const a of agents.values()) {
    const raw = a.raw;
    if (raw === null) continue;
    a.runId = runId;
    a.recv0 = 0;
    a.next.clear();
    raw.count(count);
    raw.onCount = count
      ? (error) => {
          if (error) return noteError('ERROR', `a relay ERROR frame at raw agent ${a.key} (not parsed)`);
          run.received++;
          a.recv0++;
          a.onEcho?.();
        }
      : null;
    // Timed: each delivery's sender, sequence and send time come from its content's digits, as onMsg reads them.
    raw.onTimed = count && timed
      ? (r, sender, seq, sentNs, recvNs) => {
          if (r !== run.run) {
            run.stray++;
            return;
          }
          delivered(a, sender, seq, recvNs);
          run.hist.record((recvNs - sentNs) / 1000);
        }
      : null;
  }
  if (!flow) return;
  const members = [...agents.values()].filter((a) => hasPrefix(a.key, flow));
  if (members.length === 0) return;
  progressTimer = setInterval(() => {
    let min = Infinity;
    for (const a of members) min = Math.min(min, a.runId === runId ? a.recv0 : 0);
    process.send?.({ ev: 'progress', run: runId, min });
  }, 10);
}

async function close(prefixes?: string[]): Promise<number> {
  const targets = [...agents.values()].filter((a) => !prefixes || hasPrefix(a.key, prefixes));
  await Promise.all(
    targets.map(
      (a) =>
        new Promise<void>((resolve) => {
          a.closedByUs = true;
          if (a.ws.readyState === WebSocket.CLOSED) return resolve();
          const t = setTimeout(resolve, CLOSE_TIMEOUT_MS);
          a.ws.once('close', () => {
            clearTimeout(t);
            resolve();
          });
          a.ws.terminate();
        }),
    ),
  );
  for (const a of targets) agents.delete(a.key);
  if (agents.size === 0) channelGates.clear();
  return targets.length;
}

/** node:crypto's raw Ed25519 verify rate: verifies per CPU-second of this process. */
function verifyCeiling(ms: number): CeilingReply {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const data = Buffer.from(msgSigningString('#bench', 'x'.repeat(100), Date.now()));
  const sig = sign(null, data, createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })));
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  let verifies = 0;
  while (Date.now() - t0 < ms) {
    for (let i = 0; i < 100; i++) if (verify(null, data, publicKey, sig)) verifies++;
  }
  const c = process.cpuUsage(c0);
  return { verifies, cpuS: (c.user + c.system) / 1e6 };
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'connect': {
      const ids: Record<string, string> = {};
      const r = await limited(cmd.agents, cmd.concurrency, (spec) => connectOne(cmd.url, spec, ids));
      return { ids, ...r } satisfies ConnectReply;
    }
    case 'join':
      return limited(cmd.joins, cmd.concurrency, ([key, channel]) => joinChannel(agentOf(key), channel, cmd.existing));
    case 'arm':
      arm(cmd.run, cmd.flow, cmd.count === true, cmd.timed === true);
      return true;
    case 'count':
      return counts();
    case 'collect':
      return collect();
    case 'presign':
      return presign(cmd);
    case 'publish':
      return publish(cmd);
    case 'credit':
      creditListener?.(cmd.allowed);
      return undefined;
    case 'ping':
      return ping(cmd);
    case 'signedMax':
      return signedMax(cmd);
    case 'close':
      return close(cmd.prefixes);
    case 'verifyCeiling':
      return verifyCeiling(cmd.ms);
  }
}

process.on('message', (msg: Command & { reqId?: number }) => {
  const reqId = msg.reqId;
  handle(msg).then(
    (result) => {
      if (reqId !== undefined) process.send?.({ reqId, ok: true, result } satisfies Reply);
    },
    (err: Error) => {
      if (reqId !== undefined) process.send?.({ reqId, ok: false, error: err.message } satisfies Reply);
    },
  );
});
// The bench is gone: nothing left to do here.
process.on('disconnect', () => process.exit(0));
