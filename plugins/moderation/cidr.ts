/**
 * Address rules: an IPv4 or IPv6 address or CIDR, written one way (so one rule has one
 * store key), and a set of them to test client addresses against.
 */
import { BlockList, isIP, isIPv4 } from 'node:net';
import { normalizeAddress } from '../limits/address.js';

export interface Cidr {
  /** `203.0.113.0/24`, `2001:db8::/48`; a single address gets /32 or /128. */
  text: string;
  network: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parse `203.0.113.7`, `203.0.113.0/24` or `2001:db8::/32`; throws a RangeError saying what is wrong. */
export function parseCidr(input: string): Cidr {
  const [address, bits, extra] = input.trim().split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) throw new RangeError(`${JSON.stringify(input)} is not an IP address or CIDR; write e.g. 203.0.113.7, 203.0.113.0/24 or 2001:db8::/48`);
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!/^\d{1,3}$/.test(bits ?? String(max)) || prefix > max) throw new RangeError(`${JSON.stringify(input)} has a bad prefix length: use 0 to ${max}`);
  const normal = normalizeAddress(address);
  if (family === 6 && isIPv4(normal)) throw new RangeError(`${JSON.stringify(input)} is an IPv4-mapped address: write it as IPv4 (${normal})`);
  const network = networkOf(normal, family === 4 ? 'ipv4' : 'ipv6', prefix);
  return { text: `${network}/${prefix}`, network, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** The address with the host bits cleared, so 203.0.113.7/24 and 203.0.113.0/24 are one rule. */
function networkOf(address: string, family: 'ipv4' | 'ipv6', prefix: number): string {
  const bytes = toBytes(address, family);
  for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  if (family === 'ipv4') return bytes.join('.');
  const hextets: string[] = [];
  for (let i = 0; i < 16; i += 2) hextets.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return normalizeAddress(hextets.join(':'));
}

function toBytes(address: string, family: 'ipv4' | 'ipv6'): number[] {
  if (family === 'ipv4') return address.split('.').map(Number);
  return expandIpv6(address).flatMap((h) => [h >> 8, h & 0xff]);
}

/** The eight hextets of a compressed IPv6 address (as normalizeAddress writes it). */
function expandIpv6(address: string): number[] {
  const [head, tail] = address.split('::');
  const a = head === '' ? [] : head.split(':');
  const b = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(8 - a.length - b.length).fill('0');
  return [...a, ...fill, ...b].map((h) => parseInt(h, 16));
}

/** A set of CIDRs, rebuilt when it changes (rules change rarely; checks happen at every upgrade). */
export class CidrSet {
  private list = new BlockList();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Replace the set with these CIDRs. */
  reset(cidrs: Iterable<Cidr>): void {
    const list = new BlockList();
    let count = 0;
    for (const c of cidrs) {
      list.addSubnet(c.network, c.prefix, c.family);
      count++;
    }
    this.list = list;
    this.count = count;
  }

  has(address: string): boolean {
    if (this.count === 0) return false;
    const normal = normalizeAddress(address);
    const family = isIP(normal);
    return family !== 0 && this.list.check(normal, family === 4 ? 'ipv4' : 'ipv6');
  }
}
