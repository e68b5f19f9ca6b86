/**
 * Loads uWebSockets.js and tells whether its native binary loaded. The package we
 * depend on silently falls back to a slow JavaScript implementation when the
 * binary does not load on this platform; a relay must never run that way unnoticed.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export type Uws = typeof import('uWebSockets.js');
export const uWS: Uws = require('uWebSockets.js');

/** True when the native uWS binary is loaded (not the JavaScript fallback). */
export const uwsNative: boolean = Object.keys(require.cache).some(
  (path) => path.endsWith('.node') && /uws_[a-z0-9]+_[a-z0-9]+_\d+\.node$/.test(path),
);

export const UWS_FALLBACK_WARNING =
  'WARNING: uWebSockets.js could not load its native binary and fell back to its slow JavaScript ' +
  `implementation (platform ${process.platform}-${process.arch}, node ABI ${process.versions.modules}). ` +
  'Use Node 20 on glibc (Debian, not Alpine) for the native relay.';

/** uWS listen modes (ListenOptions in its typings, not exported as values there). */
export const LISTEN_DEFAULT = 0;
/** Refuse a port another socket holds (uWS otherwise listens with SO_REUSEPORT). */
export const LISTEN_EXCLUSIVE_PORT = 1;

type ListenCallback = (socket: import('uWebSockets.js').us_listen_socket | false) => void;
/** `app.listen(host, port, options, cb)`: in the binding, missing from its typings. */
export function listenOn(app: import('uWebSockets.js').TemplatedApp, host: string, port: number, mode: number, cb: ListenCallback): void {
  (app.listen as unknown as (host: string, port: number, mode: number, cb: ListenCallback) => void)(host, port, mode, cb);
}
