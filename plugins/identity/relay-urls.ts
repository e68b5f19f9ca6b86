/**
 * The URLs a proof of key possession may name (PROTOCOL.md § Proof bound to the relay):
 * the operator's --public-url list, plus what the relay listens on. A proof for any
 * other URL was made for another relay and is refused, so a hostile relay cannot
 * forward our CHALLENGE and reuse the answer.
 */
import { hostname, networkInterfaces } from 'node:os';
import { normalizeRelayUrl } from '../../protocol/urls.js';

export interface AcceptedUrl {
  /** `scheme://host:port`. */
  origin: string;
  /** A path the URL must have, or null for any path. */
  path: string | null;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** Every URL this relay answers to, from its bound address and the configured public URLs. */
export function acceptedUrls(address: { host: string; port: number; tls: boolean }, publicUrls: readonly string[]): AcceptedUrl[] {
  const scheme = address.tls ? 'wss' : 'ws';
  const hosts = new Set<string>();
  const host = address.host.toLowerCase();
  const wildcard = host === '0.0.0.0' || host === '::' || host === '';
  if (wildcard || isLoopback(host)) for (const name of LOOPBACK_NAMES) hosts.add(name);
  if (wildcard) {
    hosts.add(hostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) {
      for (const iface of list ?? []) hosts.add(iface.family === 'IPv6' ? `[${iface.address.split('%')[0]}]` : iface.address);
    }
  } else {
    hosts.add(host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);
  }
  const urls: AcceptedUrl[] = [...hosts].map((h) => ({ origin: `${scheme}://${h}:${address.port}`, path: null }));
  for (const url of publicUrls) {
    const normal = normalizeRelayUrl(url);
    const slash = normal.indexOf('/', normal.indexOf('//') + 2);
    urls.push(slash === -1 ? { origin: normal, path: null } : { origin: normal.slice(0, slash), path: normal.slice(slash) });
  }
  return urls;
}

/** Whether `url` (already normalized) names this relay. */
export function acceptsUrl(accepted: readonly AcceptedUrl[], url: string): boolean {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  const origin = slash === -1 ? url : url.slice(0, slash);
  const path = slash === -1 ? '' : url.slice(slash);
  return accepted.some((a) => a.origin === origin && (a.path === null || a.path === path));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}
