/**
 * `agentchat listen <server> [channels...]`: the relay's frames as JSON lines on
 * stdout (replayed history included, marked `replay: true`); status and errors on
 * stderr only. Reconnects and re-joins when the connection drops.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Sade } from 'sade';
import { AgentChatClient, AgentChatError } from '../../client/index.js';
import { channelArg } from '../arguments.js';
import { clientOptions, withClientFlags, type ClientFlags } from '../client-options.js';
import { errorLine, EXIT, UsageError } from '../errors.js';
import { stringFlags } from '../flags.js';
import { optionalNumber } from '../numbers.js';
import { printJsonLine, status } from '../output.js';

/** Handshake and keepalive frames: not part of the stream. */
const NOT_PRINTED = new Set(['CHALLENGE', 'WELCOME', 'PONG', 'ERROR']);

/** The cursor file: `{"#channel": last msg_id}`; missing means a first run. */
function readCursors(file: string): Record<string, number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(`--resume ${file}: cannot read it (${(err as Error).message})`);
  }
  const parsed: unknown = (() => {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  })();
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.values(parsed).every((v) => Number.isSafeInteger(v))) {
    throw new UsageError(`--resume ${file} is not a cursor file ({"#channel": msg_id}); delete it to start over`);
  }
  return parsed as Record<string, number>;
}

/** Written whole and renamed into place, so a killed listener never leaves half a file. */
function writeCursors(file: string, cursors: Record<string, number>): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(cursors) + '\n');
  renameSync(tmp, file);
}

interface ListenFlags extends ClientFlags {
  _?: unknown[];
  'max-messages'?: unknown;
  timeout?: unknown;
  since?: unknown;
  resume?: unknown;
}

export function registerListen(prog: Sade): void {
  stringFlags('max-messages', 'timeout', 'since', 'resume');
  withClientFlags(
    prog
      .command('listen <server> [channels]')
      .describe('Print the frames of channels (default #general) as JSON lines on stdout.'),
  )
    .option('--max-messages', 'Exit 0 after this many new MSG frames (replayed history is printed, not counted)')
    .option('--timeout', 'Exit 0 after this many seconds')
    .option('--since', 'Replay exactly the messages after this msg_id (of every channel given), instead of the last 20')
    .option('--resume', 'Keep each channel\'s last msg_id in this JSON file and start from it next run: nothing missed, nothing twice')
    .example('listen ws://localhost:6667 "#general" "#agents" --max-messages 10')
    .example('listen ws://localhost:6667 "#agents" --resume ~/.agentchat/agents.cursor')
    .action((server: unknown, first: unknown, flags: ListenFlags) => listen(server, first, flags));
}

async function listen(server: unknown, first: unknown, flags: ListenFlags): Promise<number> {
  // sade passes one optional positional; the rest stay in `_`.
  const options = clientOptions(server, flags, { reconnect: true });
  const channels = [first, ...(flags._ ?? [])].filter((c) => c !== undefined).map((c) => channelArg(c));
  if (channels.length === 0) channels.push('#general');
  const maxMessages = optionalNumber(flags['max-messages'], '--max-messages', { integer: true, above: 0 }) ?? Infinity;
  const timeoutSec = optionalNumber(flags.timeout, '--timeout', { above: 0, unit: 'seconds' });
  const since = optionalNumber(flags.since, '--since', { integer: true, min: 0 });
  if (since !== undefined && flags.resume !== undefined) throw new UsageError('--since and --resume both say where to start: choose one');
  const cursorFile = flags.resume === undefined ? null : String(flags.resume);
  const cursors = cursorFile === null ? {} : readCursors(cursorFile);

  const client = new AgentChatClient({ ...options, cursors });
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let done = false;
  let messages = 0;

  client.on('frame', (frame) => {
    if (done || NOT_PRINTED.has(frame.type)) return;
    printJsonLine(frame);
    if (cursorFile !== null && frame.type === 'MSG' && typeof frame.to === 'string' && typeof frame.msg_id === 'number') {
      cursors[frame.to] = frame.msg_id;
      writeCursors(cursorFile, cursors);
    }
    if (frame.type === 'MSG' && frame.replay !== true && ++messages >= maxMessages) {
      done = true;
      finish(EXIT.OK);
    }
  });
  // Refusals of connect and join reject them (the exit reason); these are the others, e.g. RATE_LIMITED.
  client.on('server_error', (frame) => status(errorLine(AgentChatError.fromFrame(frame))));
  client.on('disconnect', (info) => {
    if (info.willReconnect) status(`disconnected (${info.code}); reconnecting`);
  });
  client.on('reconnect', (welcome) => status(`reconnected as ${welcome.agent_id}`));
  client.on('reconnect_failed', ({ attempts }) => {
    status(`error: gave up reconnecting after ${attempts} attempts`);
    finish(EXIT.FAILED);
  });
  const stop = () => finish(EXIT.OK);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  try {
    const welcome = await client.connect();
    for (const channel of channels) {
      const from = since ?? cursors[channel];
      await client.join(channel, from === undefined ? {} : { since: from });
    }
    status(`listening on ${channels.join(' ')} as ${welcome.agent_id}`);
    const timer = timeoutSec === undefined ? null : setTimeout(() => finish(EXIT.OK), timeoutSec * 1000);
    const code = await finished;
    if (timer) clearTimeout(timer);
    return code;
  } finally {
    done = true;
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await client.disconnect();
  }
}
