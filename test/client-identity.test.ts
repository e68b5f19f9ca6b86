import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AgentChatClient, AgentChatError, generateIdentity, IdentityExistsError, loadIdentity, saveIdentity, type DisconnectInfo,
} from '../client/index.js';
import { agentIdFromPem, msgSigningString, parsePublicKey, verifySignature, type MsgFrame } from '../protocol/index.js';
import { connectClient, startRelay, tempDir } from './helpers/cli.js';

test('saveIdentity writes the four fields with mode 0600 in a 0700 directory and refuses to overwrite', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, '.agentchat', 'identity.json');
  const identity = generateIdentity('alice');
  await saveIdentity(identity, path);
  t.is((await stat(path)).mode & 0o777, 0o600);
  t.is((await stat(join(dir, '.agentchat'))).mode & 0o777, 0o700);
  const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
  t.deepEqual(Object.keys(json).sort(), ['created', 'name', 'privkey', 'pubkey']);
  t.is(json.name, 'alice');
  t.false(Number.isNaN(Date.parse(json.created)));

  await t.throwsAsync(saveIdentity(generateIdentity('eve'), path), { instanceOf: IdentityExistsError });
  t.is((await loadIdentity(path)).agentId, identity.agentId, 'the refused save left the file alone');
  await saveIdentity(generateIdentity('eve'), path, { overwrite: true });
  t.is((await loadIdentity(path)).name, 'eve');
});

test('loadIdentity names the problem with a broken file', async (t) => {
  const dir = await tempDir(t);
  await t.throwsAsync(loadIdentity(join(dir, 'missing.json')), { message: /no identity file at/ });
  const mismatched = join(dir, 'mismatched.json');
  const a = generateIdentity('a');
  const b = generateIdentity('b');
  await writeFile(mismatched, JSON.stringify({ name: 'a', pubkey: a.pubkey, privkey: b.privkey, created: a.created }));
  await t.throwsAsync(loadIdentity(mismatched), { message: /privkey does not belong to its pubkey/ });
});

test('a 0.3.x identity file loads and the relay assigns the same agent id', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'identity.json');
  // Exactly what agentchat 0.3.x wrote.
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pubkey = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privkey = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await writeFile(path, JSON.stringify({ name: 'legacy', pubkey, privkey, created: new Date().toISOString() }, null, 2), { mode: 0o600 });

  const relay = await startRelay(t);
  const client = await connectClient(t, relay.url, { identity: path });
  t.is(client.identity?.agentId, agentIdFromPem(pubkey));
  t.is(client.agentId, agentIdFromPem(pubkey));
  t.is(client.name, 'legacy');
});

test('connect answers CHALLENGE automatically and gets a verified WELCOME', async (t) => {
  const relay = await startRelay(t);
  const identity = generateIdentity('signer');
  const client = new AgentChatClient({ server: relay.url, identity });
  t.teardown(() => client.disconnect());
  const challenged = once(client, 'challenge');
  const welcome = await client.connect();
  await challenged;
  t.is(welcome.agent_id, identity.agentId);
  t.true(welcome.verified);
});

test('signed MSGs reach receivers with sig and sig_ts they can verify', async (t) => {
  const relay = await startRelay(t);
  const signer = await connectClient(t, relay.url, { identity: generateIdentity('signer') });
  const reader = await connectClient(t, relay.url);
  await signer.join('#general');
  await reader.join('#general');

  const received = once(reader, 'message') as Promise<[MsgFrame]>;
  await signer.send('#general', 'signed hello');
  const [msg] = await received;
  t.is(typeof msg.sig, 'string');
  t.is(typeof msg.sig_ts, 'number');

  const whois = await reader.whois(signer.agentId!);
  const key = parsePublicKey(whois.pubkey!).key;
  t.true(verifySignature(key, msgSigningString(msg.to, msg.content, msg.sig_ts!), msg.sig!));
  t.false(verifySignature(key, msgSigningString(msg.to, 'tampered', msg.sig_ts!), msg.sig!));

  const dm = once(reader, 'message') as Promise<[MsgFrame]>;
  await signer.dm(reader.agentId!, 'signed dm');
  const [direct] = await dm;
  t.true(verifySignature(key, msgSigningString(direct.to, direct.content, direct.sig_ts!), direct.sig!));
});

test('a second client with a connected identity takes over; the displaced one does not reconnect', async (t) => {
  const relay = await startRelay(t);
  const identity = generateIdentity('twin');
  const first = await connectClient(t, relay.url, { identity, reconnect: { initialMs: 10, maxMs: 20 } });
  const told = once(first, 'session_displaced');
  const gone = once(first, 'disconnect') as Promise<[DisconnectInfo]>;
  const twin = new AgentChatClient({ server: relay.url, identity, requestTimeoutMs: 3000 });
  t.teardown(() => twin.disconnect());
  const welcome = await twin.connect();
  t.is(welcome.agent_id, identity.agentId);
  await told;
  const [info] = await gone;
  t.like(info, { code: 4001, willReconnect: false });
  await twin.ping();
  t.false(first.connected);
});
