/**
 * Address rules: IPv4 and IPv6 addresses and CIDRs are written one way (host bits
 * cleared, IPv6 compressed), bad ones are refused with the reason, and a set matches
 * every spelling of an address, including uWS's full IPv6 form and IPv4-mapped IPv6.
 * Over a real socket: a ban of ::1/128 refuses an IPv6 client at the upgrade.
 */
import test from 'ava';
import WebSocket from 'ws';
import { CidrSet, parseCidr } from '../plugins/moderation/cidr.js';
import { act, moderatedRelay } from './helpers/moderation.js';

test('CIDRs are written one way: host bits cleared, IPv6 compressed, a bare address /32 or /128', (t) => {
  const cases: Array<[string, string]> = [
    ['203.0.113.7', '203.0.113.7/32'],
    ['203.0.113.7/24', '203.0.113.0/24'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:db8::1/32', '2001:db8::/32'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001/64', '2001:db8::/64'],
    ['::1', '::1/128'],
  ];
  for (const [input, text] of cases) t.is(parseCidr(input).text, text, input);
});

test('bad addresses and prefixes are refused with what to write instead', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['1.2.3', /not an IP address or CIDR/],
    ['example.org', /not an IP address or CIDR/],
    ['1.2.3.4/33', /bad prefix length: use 0 to 32/],
    ['2001:db8::/129', /bad prefix length: use 0 to 128/],
    ['1.2.3.4/', /bad prefix length/],
    ['1.2.3.4/8/1', /not an IP address or CIDR/],
    ['::ffff:1.2.3.4', /IPv4-mapped address: write it as IPv4 \(1\.2\.3\.4\)/],
  ];
  for (const [input, message] of cases) t.throws(() => parseCidr(input), { message }, input);
});

test('a set matches every spelling of an address in it, and nothing outside', (t) => {
  const set = new CidrSet();
  t.false(set.has('10.0.0.1'), 'empty');
  set.reset([parseCidr('10.0.0.0/8'), parseCidr('2001:db8::/32')]);
  t.true(set.has('10.1.2.3'));
  t.false(set.has('11.0.0.1'));
  t.true(set.has('2001:db8:0:0:0:0:0:5'));
  t.true(set.has('2001:0db8:ffff:0000:0000:0000:0000:0001'), "uWS's full form");
  t.true(set.has('0000:0000:0000:0000:0000:ffff:0a00:0001'), 'IPv4-mapped 10.0.0.1');
  t.false(set.has('2001:db9::1'));
  t.false(set.has('not an address'));
});

test('a ban of ::1/128 refuses an IPv6 client at the upgrade with 403; IPv4 clients are not covered', async (t) => {
  const { relay, adminKeys, admin } = await moderatedRelay(t, { host: '::' });
  t.like(await act(admin, adminKeys, { action: 'ban', address: '::1' }), { type: 'ADMIN_OK', value: '::1/128' });
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://[::1]:${relay.port}`);
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('error', reject);
  });
  t.is(status, 403);
  await admin.ping();
});
