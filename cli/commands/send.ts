/** `agentchat send <server> <target> <message>`: send one message, exit 0 once the relay echoed it. */
import type { Sade } from 'sade';
import { isChannel } from '../../protocol/index.js';
import { requireArg, withClient, withClientFlags, type ClientFlags } from '../client-options.js';
import { EXIT, UsageError } from '../errors.js';

export function registerSend(prog: Sade): void {
  withClientFlags(
    prog
      .command('send <server> <target> [message]')
      .describe('Send a message to a #channel (joined first) or an @agent. A message of `-`, or none, is read from stdin.'),
  )
    .example('send ws://localhost:6667 "#general" "hello"')
    .example('send ws://localhost:6667 @a1b2c3d4 - < note.txt')
    .action((server: unknown, target: unknown, message: unknown, flags: ClientFlags) => send(server, target, message, flags));
}

async function send(server: unknown, targetArg: unknown, messageArg: unknown, flags: ClientFlags): Promise<number> {
  const target = requireArg(targetArg, 'target');
  // The argument parser drops a lone `-`, so "-" and "no message" both mean stdin.
  const content = messageArg === undefined || messageArg === '-' ? await readStdin() : String(messageArg);
  await withClient(server, flags, async (client) => {
    // The relay only takes channel messages from members (as 0.3.x did, join first).
    if (isChannel(target)) await client.join(target);
    await client.send(target, content);
  });
  return EXIT.OK;
}

/** All of stdin, without the one trailing newline `echo` adds. */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('missing <message> (give it as an argument, or pipe it in with `-`)');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
