/** `agentchat send <server> <target> <message>`: send one message, exit 0 once the relay echoed it. */
import type { Sade } from 'sade';
import { isChannel } from '../../protocol/index.js';
import { targetArg } from '../arguments.js';
import { clientOptions, withClient, withClientFlags, type ClientFlags } from '../client-options.js';
import { EXIT, UsageError } from '../errors.js';
import { stringFlags } from '../flags.js';
import { parseNumber } from '../numbers.js';

/** How long stdin may stay silent before send gives up on it, by default. */
const STDIN_TIMEOUT_SEC = 5;

interface SendFlags extends ClientFlags {
  'stdin-timeout'?: unknown;
}

export function registerSend(prog: Sade): void {
  stringFlags('stdin-timeout');
  withClientFlags(
    prog
      .command('send <server> <target> [message]')
      .describe('Send a message to a #channel (joined first) or an @agent. A message of `-`, or none, is read from stdin.'),
  )
    .option('--stdin-timeout', `Seconds stdin may stay silent (no data, no end) before send gives up with exit 2 (default ${STDIN_TIMEOUT_SEC})`)
    .example('send ws://localhost:6667 "#general" "hello"')
    .example('send ws://localhost:6667 @a1b2c3d4 - < note.txt')
    .action((server: unknown, target: unknown, message: unknown, flags: SendFlags) => send(server, target, message, flags));
}

async function send(server: unknown, targetValue: unknown, messageValue: unknown, flags: SendFlags): Promise<number> {
  // Everything that can be checked here is checked before connecting.
  const options = clientOptions(server, flags);
  const target = targetArg(targetValue);
  const stdinTimeout = parseNumber(flags['stdin-timeout'] ?? STDIN_TIMEOUT_SEC, '--stdin-timeout', { above: 0, unit: 'seconds' });
  // The argument parser drops a lone `-`, so "-" and "no message" both mean stdin.
  const content = messageValue === undefined || messageValue === '-' ? await readStdin(stdinTimeout) : String(messageValue);
  if (content.trim() === '') throw new UsageError('the message is empty: give the text to send as <message>, or pipe it in with `-`');
  await withClient(options, async (client) => {
    // The relay only takes channel messages from members (as 0.3.x did, join first).
    if (isChannel(target)) await client.join(target);
    await client.send(target, content);
  });
  return EXIT.OK;
}

/**
 * All of stdin, without the one trailing newline `echo` adds. A terminal, or a pipe
 * that stays silent for `timeoutSec`, is a usage error: an agent whose stdin stays
 * open must not hang here.
 */
function readStdin(timeoutSec: number): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) return Promise.reject(new UsageError('missing <message>: give it as an argument, or pipe it in with `-`'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        finish();
        stdin.destroy();
        reject(new UsageError(`no end of input on stdin after ${timeoutSec} s of silence: give the message as an argument, or close stdin (e.g. \`echo text | agentchat send … -\`)`));
      }, timeoutSec * 1000);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      arm();
    };
    const onEnd = () => {
      finish();
      resolve(Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, ''));
    };
    const onError = (err: Error) => {
      finish();
      reject(err);
    };
    const finish = () => {
      clearTimeout(timer);
      stdin.off('data', onData).off('end', onEnd).off('error', onError);
    };
    stdin.on('data', onData).once('end', onEnd).once('error', onError);
    arm();
  });
}
