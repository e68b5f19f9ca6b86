/**
 * Per-address limits: one address cannot hold many connections, open them fast, or
 * identify many sessions; its refusals are HTTP 429 at the upgrade (no session made),
 * counted by reason and logged once per interval; other addresses are still served.
 * Other loopback addresses (127.0.0.2) stand in for other clients.
 */
import test from 'ava';
import { fdLimit, parseFdLimit, sessionsWithin } from '../kernel/fd-limit.js';
import { addressGroup } from '../plugins/limits/address.js';
import { connect, startRelay, upgrade, upgraded } from './helpers/relay-client.js';

test('connections past maxConnsPerIp are refused with 429 at the upgrade; another address is still served', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { limits: { maxConnsPerIp: 3 } } });
  for (let i = 0; i < 3; i++) await upgraded(t, relay.port);
  const refused = await upgrade(t, relay.port);
  t.is(refused.status, 429);
  t.regex(refused.body, /^LIMIT_EXCEEDED: your address has 3 open connections, the limit/);
  t.is(relay.api.sessions.size, 3, 'no session was made for the refused upgrade');
  const other = await upgraded(t, relay.port, { from: '127.0.0.2' });
  await other.identify('legit');
  await other.ping();
  t.is(relay.api.stats.refusals.conns_per_ip, 1);
});

test('a closed connection frees its place under maxConnsPerIp', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { limits: { maxConnsPerIp: 1 } } });
  const first = await upgraded(t, relay.port);
  t.is((await upgrade(t, relay.port)).status, 429);
  await first.close();
  while (relay.api.sessions.size > 0) await new Promise((resolve) => setImmediate(resolve));
  const again = await upgraded(t, relay.port);
  await again.ping();
});

test('new connections past the per-address rate are refused with 429 and Retry-After', async (t) => {
  // 1/s with a burst of 2: the third upgrade in a row is refused.
  const relay = await startRelay(t, { pluginOptions: { limits: { connRatePerIp: 1 } } });
  for (let i = 0; i < 2; i++) await (await upgraded(t, relay.port)).close();
  const refused = await upgrade(t, relay.port);
  t.is(refused.status, 429);
  t.regex(refused.body, /^RATE_LIMITED: your address opens connections too fast/);
  t.is(refused.headers['retry-after'], '1');
  const other = await upgraded(t, relay.port, { from: '127.0.0.2' });
  await other.ping();
  t.is(relay.api.stats.refusals.conn_rate_per_ip, 1);
});

test('IDENTIFY past maxSessionsPerIp is refused with LIMIT_EXCEEDED; the socket stays usable', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { limits: { maxSessionsPerIp: 2 } } });
  await (await connect(t, relay)).identify('one');
  await (await connect(t, relay)).identify('two');
  const third = await connect(t, relay);
  await t.throwsAsync(third.identify('three'), { message: /LIMIT_EXCEEDED your address has 2 identified sessions/ });
  await third.ping();
  const other = await upgraded(t, relay.port, { from: '127.0.0.2' });
  await other.identify('legit');
  t.is(relay.api.stats.refusals.sessions_per_ip, 1);
});

test('a scaled-down flood of 200 upgrades from one address holds at most maxConnsPerIp sessions', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { limits: { maxConnsPerIp: 8, connRatePerIp: 0 } } });
  const results = await Promise.all(Array.from({ length: 200 }, () => upgrade(t, relay.port)));
  t.is(results.filter((r) => r.status === 101).length, 8);
  t.true(results.every((r) => r.status === 101 || r.status === 429));
  t.is(relay.api.sessions.size, 8);
  const other = await upgraded(t, relay.port, { from: '127.0.0.2' });
  await other.identify('legit');
  await other.ping();
});

test('an X-Forwarded-For from a trusted proxy names the client: counted and shown as that address', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { limits: { maxConnsPerIp: 1, trustProxy: ['127.0.0.1'] } } });
  const behind = await upgraded(t, relay.port, { headers: { 'x-forwarded-for': '198.51.100.9, 203.0.113.5' } });
  await behind.identify('behind');
  t.deepEqual([...relay.api.sessions.values()].map((s) => s.remoteAddress), ['203.0.113.5']);
  t.is((await upgrade(t, relay.port, { headers: { 'x-forwarded-for': '203.0.113.5' } })).status, 429);
  await upgraded(t, relay.port, { headers: { 'x-forwarded-for': '203.0.113.6' } });
});

test('X-Forwarded-For from a peer that is not a trusted proxy is ignored', async (t) => {
  const relay = await startRelay(t, { pluginOptions: { limits: { maxConnsPerIp: 1 } } });
  await upgraded(t, relay.port, { headers: { 'x-forwarded-for': '203.0.113.5' } });
  t.deepEqual([...relay.api.sessions.values()].map((s) => s.remoteAddress), ['127.0.0.1']);
  t.is((await upgrade(t, relay.port, { headers: { 'x-forwarded-for': '203.0.113.7' } })).status, 429, 'a forged header does not escape the limit');
});

test('an address refused many times gets one log line per interval, and every refusal is counted', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const relay = await startRelay(t, {
    log: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    pluginOptions: { limits: { maxConnsPerIp: 1 } },
  });
  await upgraded(t, relay.port);
  for (let i = 0; i < 10; i++) t.is((await upgrade(t, relay.port)).status, 429);
  const refusedLines = lines.filter((l) => l.event === 'address_refused');
  t.is(refusedLines.length, 1);
  t.like(refusedLines[0], { level: 'warn', ip: '127.0.0.1', reason: 'conns_per_ip' });
  t.is(relay.api.stats.refusals.conns_per_ip, 10);
});

test('IPv6 addresses are counted by /64; IPv4-mapped ones as their IPv4 address', (t) => {
  t.is(addressGroup('2001:db8:1:2:aaaa::1'), addressGroup('2001:db8:1:2:bbbb::2'));
  t.not(addressGroup('2001:db8:1:2::1'), addressGroup('2001:db8:1:3::1'));
  t.is(addressGroup('2001:0db8:0001:0002:0000:0000:0000:0001'), '2001:db8:1:2::/64');
  t.is(addressGroup('::ffff:192.0.2.1'), '192.0.2.1');
  t.is(addressGroup('192.0.2.1'), '192.0.2.1');
});

test('the session limit stays below the open-file limit, with headroom', async (t) => {
  t.is(parseFdLimit('Max cpu time    unlimited  unlimited  seconds\nMax open files            1024                 524288               files\n'), 1024);
  t.is(parseFdLimit('Max open files            unlimited            unlimited            files\n'), null);
  t.true(sessionsWithin(1024) < 1024 - 64);
  const relay = await startRelay(t);
  t.true(relay.config.maxSessions <= sessionsWithin(fdLimit()));
});
