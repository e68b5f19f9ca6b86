import test from 'ava';
import { once } from 'node:events';
import type { MsgFrame } from '../protocol/index.js';
import { connectClient, runCli, spawnCli, startRelay } from './helpers/cli.js';

test('connect driven through a pipe: messages, /join, /who, /msg, /leave, /quit', async (t) => {
  const relay = await startRelay(t);
  const bob = await connectClient(t, relay.url, { name: 'bob' });
  await bob.join('#general');

  const chat = spawnCli(t, ['connect', relay.url, '--name', 'alice']);
  const joinedLine = await chat.line((l) => l.startsWith('* joined #general'));
  t.regex(joinedLine, /\(2 agents\)/);
  const connected = chat.lines.find((l) => l.startsWith('* connected'))!;
  const aliceId = /as (@\S+)/.exec(connected)![1];

  // Someone else talks: printed readably, with the sender's name.
  await bob.send('#general', 'hi alice');
  t.is(await chat.line((l) => l.includes('hi alice')), `[#general] ${bob.agentId} (bob): hi alice`);

  // An input line goes to the current channel.
  const heard = once(bob, 'message') as Promise<[MsgFrame]>;
  chat.child.stdin.write('hello bob\n');
  t.like((await heard)[0], { from: aliceId, to: '#general', content: 'hello bob' });
  t.is(await chat.line((l) => l.includes('hello bob')), `[#general] ${aliceId} (alice): hello bob`);

  chat.child.stdin.write('/who\n');
  const who = await chat.line((l) => l.startsWith('* in #general'));
  t.true(who.includes(`${bob.agentId} (bob)`) && who.includes(`${aliceId} (alice)`));

  const dm = once(bob, 'message') as Promise<[MsgFrame]>;
  chat.child.stdin.write(`/msg ${bob.agentId} psst\n`);
  t.like((await dm)[0], { from: aliceId, to: bob.agentId, content: 'psst' });

  chat.child.stdin.write('/join #agents\n');
  await chat.line((l) => l.startsWith('* joined #agents'));
  chat.child.stdin.write('/leave #agents\n');
  t.is(await chat.line((l) => l.startsWith('* left')), '* left #agents; talking in #general');

  chat.child.stdin.write('/join #nope\n');
  chat.child.stdin.write('/quit\n');
  t.is(await chat.exited, 0);
  t.regex(chat.stderr(), /error: CHANNEL_NOT_FOUND: channel #nope does not exist/);
});

test('connect sends piped lines and exits 0 at end of input', async (t) => {
  const relay = await startRelay(t);
  const bob = await connectClient(t, relay.url);
  await bob.join('#agents');
  const got: string[] = [];
  const both = new Promise<void>((resolve) => bob.on('message', (m) => got.push(m.content) === 2 && resolve()));
  const chat = spawnCli(t, ['connect', relay.url, '--join', '#agents'], { input: 'one\ntwo\n' });
  t.is(await chat.exited, 0, chat.stderr());
  await both;
  t.deepEqual(got, ['one', 'two']);
});

test('connect prints no error for replayed senders who left, and a refused /join or /msg once', async (t) => {
  const relay = await startRelay(t);
  const gone = await connectClient(t, relay.url, { name: 'gone' });
  await gone.join('#general');
  await gone.send('#general', 'said before leaving');
  await gone.disconnect();
  const owner = await connectClient(t, relay.url, { name: 'owner' });
  await owner.createChannel('#design', true);

  const chat = spawnCli(t, ['connect', relay.url, '--join', '#general']);
  // The replayed message prints with the bare id: the sender is gone and its name unknown.
  t.regex(await chat.line((l) => l.includes('said before leaving')), /^\[#general\] @\w{8}: said before leaving$/);
  chat.child.stdin.write('/join #design\n');
  chat.child.stdin.write('/msg @nobody00 hello\n');
  chat.child.stdin.end('/quit\n');
  t.is(await chat.exited, 0, chat.stderr());
  const errors = chat.stderr().trimEnd().split('\n');
  t.is(errors.length, 2, chat.stderr());
  t.regex(errors[0], /^error: NOT_INVITED: /);
  t.regex(errors[1], /^error: AGENT_NOT_FOUND: /);
});

test('connect --join talks in the last channel joined, as connect --help says', async (t) => {
  const help = await runCli(t, ['connect', '--help']);
  t.regex(help.stdout, /the last one joined is current/);
  const relay = await startRelay(t);
  const bob = await connectClient(t, relay.url);
  await bob.join('#general');
  await bob.join('#agents');
  const heard = new Promise<MsgFrame>((resolve) => bob.on('message', (m) => m.content === 'where am i' && resolve(m)));
  const chat = spawnCli(t, ['connect', relay.url, '--join', '#general,#agents'], { input: 'where am i\n' });
  t.is(await chat.exited, 0, chat.stderr());
  t.is((await heard).to, '#agents');
});
