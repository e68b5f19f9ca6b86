/**
 * The exit-code table, command by command: 0 success, 1 refused or failed, 2 usage
 * error found before connecting. Each row is one CLI run; its stderr is one line.
 */
import test from 'ava';
import { connectClient, runCli, spawnCli, startRelay, tempDir } from './helpers/cli.js';

/** The relay URL in a row's arguments. */
const RELAY = 'RELAY';

interface Row {
  args: string[];
  code: 0 | 1 | 2;
  stderr?: RegExp;
  input?: string;
}

const USAGE: Row[] = [
  { args: ['send', RELAY, 'general', 'hi'], code: 2, stderr: /<target> must be a #channel or an @agent id, got "general"; quote channel names/ },
  { args: ['send', RELAY, '#agents', ''], code: 2, stderr: /the message is empty/ },
  { args: ['send', RELAY, '#agents', '   '], code: 2, stderr: /the message is empty/ },
  { args: ['send', RELAY, '#agents'], input: '', code: 2, stderr: /the message is empty/ },
  { args: ['send', RELAY, '#agents', '-'], input: ' \n', code: 2, stderr: /the message is empty/ },
  { args: ['send', RELAY], code: 2, stderr: /^error: Insufficient arguments \(see `agentchat send --help`\); quote channel names \('#general'\)/ },
  { args: ['send', 'ws://localhost:99999', '#agents', 'hi'], code: 2, stderr: /port 99999 is out of range/ },
  { args: ['send', 'http://localhost:6667', '#agents', 'hi'], code: 2, stderr: /server must be a ws:\/\/ or wss:\/\/ URL/ },
  { args: ['send', RELAY, '#agents', 'hi', '--stdin-timeout', '-1'], code: 2, stderr: /--stdin-timeout must be a positive number of seconds, got "-1"/ },
  { args: ['send', RELAY, '#agents', 'hi', '--nope'], code: 2, stderr: /^error: Unknown option --nope \(see `agentchat send --help`\)\n$/ },
  { args: ['listen', RELAY, 'general'], code: 2, stderr: /<channel> must be a #channel/ },
  { args: ['listen', RELAY, '--timeout', '-1'], code: 2, stderr: /--timeout must be a positive number of seconds, got "-1"/ },
  { args: ['listen', RELAY, '--max-messages', '0'], code: 2, stderr: /--max-messages must be a positive integer, got "0"/ },
  { args: ['whois', RELAY, 'nobody'], code: 2, stderr: /<agent> must be an agent id/ },
  { args: ['agents', RELAY, 'general'], code: 2, stderr: /<channel> must be a #channel/ },
  { args: ['create', RELAY, 'design'], code: 2, stderr: /<channel> must be a #channel/ },
  { args: ['invite', RELAY, '#design', '@1a2b3c4d'], code: 2, stderr: /invite needs the identity of a member of the channel: pass -i/ },
  { args: ['connect', RELAY, '--join', 'general'], code: 2, stderr: /<channel in --join> must be a #channel/ },
  { args: ['propose', RELAY, '@abcdef12', 'task', '--amount', '-5'], code: 2, stderr: /--amount must be a non-negative number, got "-5"/ },
  { args: ['propose', RELAY, '@abcdef12', 'task', '--expires', '-1'], code: 2, stderr: /--expires must be/ },
  { args: ['propose', RELAY, '@abcdef12', 'task', '--ephemeral'], code: 2, stderr: /proposals are signed/ },
  { args: ['send', RELAY, '#agents', 'hi', '--ephemeral', '-i', 'x.json'], code: 2, stderr: /choose one of --identity and --ephemeral/ },
  { args: ['bogus'], code: 2, stderr: /^error: Invalid command: bogus \(see `agentchat --help`\)\n$/ },
];

const FAILED: Row[] = [
  { args: ['send', RELAY, '#nope', 'hi'], code: 1, stderr: /^error: CHANNEL_NOT_FOUND: / },
  { args: ['whois', RELAY, '@nobody00'], code: 1, stderr: /^error: AGENT_NOT_FOUND: / },
  { args: ['send', 'ws://127.0.0.1:1', '#agents', 'hi'], code: 1, stderr: /^error: DISCONNECTED: could not connect to ws:\/\/127\.0\.0\.1:1/ },
  { args: ['propose', RELAY, '@abcdef12', 'task'], code: 1, stderr: /no identity file at .*identity\.json \(create one with `agentchat identity --generate`\)/ },
  { args: ['send', RELAY, '#agents', 'hi', '-i', 'missing.json'], code: 1, stderr: /no identity file at missing\.json \(create one with `agentchat identity --generate --file missing\.json`\)/ },
];

const OK: Row[] = [
  { args: ['--help'], code: 0 },
  { args: ['send', '--help'], code: 0 },
  { args: ['send', RELAY, '#agents', 'hi'], code: 0 },
  { args: ['send', RELAY, '#agents', '-'], input: 'from stdin\n', code: 0 },
  { args: ['listen', RELAY, '#agents', '--timeout', '0.1'], code: 0 },
  { args: ['channels', RELAY], code: 0 },
];

for (const row of [...USAGE, ...FAILED, ...OK]) {
  const shown = row.args.map((a) => (a === '' || /\s/.test(a) ? JSON.stringify(a) : a)).join(' ') + (row.input === undefined ? '' : ` < ${JSON.stringify(row.input)}`);
  test(`exit ${row.code}: agentchat ${shown}`, async (t) => {
    const relay = await startRelay(t);
    const cwd = await tempDir(t);
    const args = row.args.map((a) => (a === RELAY ? relay.url : a));
    const run = await runCli(t, args, { cwd, input: row.input });
    t.is(run.code, row.code, run.stderr);
    if (row.code === 0) {
      t.notRegex(run.stderr, /^error/m);
    } else {
      t.regex(run.stderr, row.stderr!);
      t.is(run.stderr.trimEnd().split('\n').length, 1, `one stderr line: ${run.stderr}`);
      t.is(run.stdout, '', 'nothing on stdout');
    }
  });
}

test('--help documents the exit codes 0, 1 and 2', async (t) => {
  for (const args of [['--help'], ['send', '--help'], ['listen', '--help']]) {
    const run = await runCli(t, args);
    t.regex(run.stdout, /Exit codes\n\s+0 +success\n\s+1 +failed.*\n\s+2 +usage error/);
  }
});

test('send with no message on a stdin that stays open and silent gives up with exit 2, naming the cause', async (t) => {
  const relay = await startRelay(t);
  const listener = await connectClient(t, relay.url);
  await listener.join('#agents');
  const heard: string[] = [];
  listener.on('message', (m) => heard.push(m.content));
  // As `sleep 30 | agentchat send …`: stdin is a pipe nobody writes to or closes.
  const send = spawnCli(t, ['send', relay.url, '#agents', '--stdin-timeout', '0.2']);
  t.is(await send.exited, 2);
  t.regex(send.stderr(), /^error: no end of input on stdin after 0\.2 s of silence: give the message as an argument, or close stdin/);
  await listener.ping();
  t.deepEqual(heard, [], 'nothing was sent');
});
