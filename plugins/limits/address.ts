/**
 * Addresses as the limits count them: an IPv4 address is one client, an IPv6 one is
 * grouped by its /64 (one host gets a whole /64 to pick from), and a trusted proxy's
 * X-Forwarded-For names the client instead of the proxy.
 */
import { BlockList, isIP, isIPv4 } from 'node:net';

/** The eight hextets of an IPv6 address (a trailing dotted IPv4 part folded in), or null when it is not one. */
function hextets(address: string): number[] | null {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = text.slice(0, -dotted[1].length) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const parts = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((h) => parseInt(h, 16));
  return parts.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff) ? parts : null;
}

/**
 * The key an address is counted under: the IPv4 address itself (IPv4-mapped IPv6
 * included), or an IPv6 address's /64 written as `xxxx:xxxx:xxxx:xxxx::/64`.
 */
export function addressGroup(address: string): string {
  if (isIPv4(address)) return address;
  const parts = hextets(address);
  if (parts === null) return address;
  if (parts.slice(0, 5).every((n) => n === 0) && parts[5] === 0xffff) {
    return `${parts[6] >> 8}.${parts[6] & 0xff}.${parts[7] >> 8}.${parts[7] & 0xff}`;
  }
  return parts.slice(0, 4).map((n) => n.toString(16)).join(':') + '::/64';
}

/** uWS writes IPv6 peers in full (`0000:…:0001`); IPv4-mapped peers are the IPv4 address. */
export function normalizeAddress(address: string): string {
  const parts = isIPv4(address) ? null : hextets(address);
  if (parts === null) return address;
  if (parts.slice(0, 5).every((n) => n === 0) && parts[5] === 0xffff) return addressGroup(address);
  return parts.map((n) => n.toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/^:::/, '::').replace(/:::$/, '::');
}

/** Proxies whose X-Forwarded-For is believed, from CIDRs (`10.0.0.0/8`, `::1/128`, or a bare address). */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [net, bits] = cidr.trim().split('/');
      const family = isIP(net);
      if (family === 0) throw new RangeError(`trustProxy: ${JSON.stringify(cidr)} is not an address or CIDR, e.g. 10.0.0.0/8 or ::1/128`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
        throw new RangeError(`trustProxy: ${JSON.stringify(cidr)} has a bad prefix length`);
      }
      this.list.addSubnet(net, prefix, type);
    }
    this.size = cidrs.length;
  }

  has(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client behind `peer`: walking X-Forwarded-For from the right (the hop nearest
   * us), the first address that is not a trusted proxy. The peer itself when it is not
   * trusted or the header is missing or malformed.
   */
  clientOf(peer: string, forwardedFor: string | undefined): string {
    if (this.size === 0 || forwardedFor === undefined || !this.has(peer)) return peer;
    const hops = forwardedFor.split(',');
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeAddress(hops[i].trim());
      if (isIP(hop) === 0) return client;
      client = hop;
      if (!this.has(hop)) return hop;
    }
    return client;
  }
}
