/**
 * No answer is much bigger than its request unless paged: LIST_CHANNELS, LIST_AGENTS
 * and LIST_PROPOSALS answer at most 64 KiB a frame, with a cursor to the next page.
 */
import test from 'ava';
import { connectAgent, startRelay as startProposalRelay } from './helpers/proposal-agents.js';
import { connectAs, NO_ADDRESS_LIMITS, startRelay, type Frame } from './helpers/relay-client.js';

const PAGE = 64 * 1024;
const bytes = (frame: Frame) => Buffer.byteLength(JSON.stringify(frame));

test('LIST_CHANNELS after a channel fill answers in pages of at most 64 KiB that together list every channel once', async (t) => {
  const relay = await startRelay(t);
  for (let i = 0; i < 3000; i++) relay.api.channels.create(`#fill-${String(i).padStart(4, '0')}-${'x'.repeat(20)}`);
  const client = await connectAs(t, relay, 'lister');
  const seen: string[] = [];
  let cursor: unknown;
  let pages = 0;
  do {
    client.send(cursor === undefined ? { type: 'LIST_CHANNELS' } : { type: 'LIST_CHANNELS', cursor });
    const frame = await client.next('CHANNELS');
    t.true(bytes(frame) <= PAGE, `page of ${bytes(frame)} bytes`);
    seen.push(...(frame.list as Array<{ name: string }>).map((c) => c.name));
    cursor = frame.cursor;
    pages++;
  } while (cursor !== undefined);
  t.true(pages > 1);
  t.is(seen.length, 3002, 'every channel, the two built-ins included');
  t.is(new Set(seen).size, seen.length);
});

test('LIST_AGENTS on a large channel is paged the same way', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { limits: NO_ADDRESS_LIMITS }, rateOther: { burst: 1000, perSec: 1000 } });
  const clients = await Promise.all(Array.from({ length: 30 }, (_, i) => connectAs(t, relay, `m${i}`)));
  await Promise.all(clients.map((c) => c.join('#general')));
  const [first] = clients;
  first.send({ type: 'LIST_AGENTS', channel: '#general' });
  const all = await first.next('AGENTS');
  t.is((all.list as string[]).length, 30);
  t.is(all.cursor, undefined, 'one page when it fits');
  t.deepEqual(all.list, [...(all.list as string[])].sort());
});

test('LIST_PROPOSALS of a victim of large proposals is paged under 64 KiB, older pages by cursor', async (t) => {
  const relay = await startProposalRelay(t, { rateMsg: { burst: 1000, perSec: 1000 }, pluginOptions: { limits: NO_ADDRESS_LIMITS } });
  const victim = await connectAgent(t, relay);
  const attacker = await connectAgent(t, relay);
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push((await attacker.proposeAndWait({ to: victim.agentId, task: 't'.repeat(4096), terms: 'u'.repeat(4096) })).id);
  const listed: string[] = [];
  let cursor: string | undefined;
  do {
    victim.send(cursor === undefined ? { type: 'LIST_PROPOSALS' } : { type: 'LIST_PROPOSALS', cursor });
    const frame = await victim.next('PROPOSALS');
    t.true(Buffer.byteLength(JSON.stringify(frame)) <= PAGE);
    listed.push(...(frame.list as Array<{ id: string }>).map((p) => p.id));
    cursor = frame.cursor as string | undefined;
  } while (cursor !== undefined);
  t.deepEqual(listed, [...ids].reverse(), 'newest first, each once');
  victim.send({ type: 'PING' });
  await victim.next('PONG');
});
