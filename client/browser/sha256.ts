/**
 * SHA-256 in plain JavaScript, for agent ids (the hash of a key's SPKI PEM text) in a
 * browser: crypto.subtle exists only on https:// and localhost pages, and a relay's page
 * may be plain http on another host. @noble/hashes: audited, small, no Node built-ins.
 */
export { sha256 } from '@noble/hashes/sha2.js';
