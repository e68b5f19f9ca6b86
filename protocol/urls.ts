/**
 * Relay URLs as a proof of key possession binds them (PROTOCOL.md § Proof bound to the
 * relay): `scheme://host:port[path]`, scheme and host lower case, the port explicit, the
 * path kept but omitted when it is '/', no query or fragment.
 */

/** The normalized form of a ws:// or wss:// URL; throws a TypeError for anything else. */
export function normalizeRelayUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`not a URL: ${JSON.stringify(url)}; use ws://host:port or wss://host:port`);
  }
  const scheme = parsed.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'ws' && scheme !== 'wss') throw new TypeError(`not a ws:// or wss:// URL: ${JSON.stringify(url)}`);
  // URL drops a scheme's default port; the proof wants it spelled out.
  const port = parsed.port === '' ? (scheme === 'wss' ? '443' : '80') : parsed.port;
  const path = parsed.pathname === '/' ? '' : parsed.pathname;
  return `${scheme}://${parsed.hostname.toLowerCase()}:${port}${path}`;
}
