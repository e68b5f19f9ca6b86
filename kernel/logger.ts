/** JSON-lines logger: one object per line, `t` (ISO time), `level`, `event`, then fields. */
import type { Logger } from './types.js';

export type LogSink = (line: string) => void;

/** Lines are written once per event-loop turn: a write per line would cost a syscall per connect. */
let pending: string[] = [];
let scheduled = false;
const MAX_PENDING_LINES = 1000;

function flush(): void {
  scheduled = false;
  if (pending.length === 0) return;
  const text = pending.join('\n') + '\n';
  pending = [];
  process.stderr.write(text);
}
process.on('exit', flush);

export const stderrSink: LogSink = (line) => {
  pending.push(line);
  if (pending.length >= MAX_PENDING_LINES) flush();
  else if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
};

/** Least severe first: a logger at a level writes that level and the ones after it. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const ignore = (): void => {};

/** Lines below `level` cost one no-op call: the methods are chosen once, here, not tested per line. */
export function createLogger(sink: LogSink | false, level: LogLevel = 'info'): Logger {
  if (!LOG_LEVELS.includes(level)) throw new RangeError(`log level must be one of ${LOG_LEVELS.join(', ')}, got ${String(level)}`);
  if (sink === false) return { debug: ignore, info: ignore, warn: ignore, error: ignore };
  const from = LOG_LEVELS.indexOf(level);
  const writer = (name: LogLevel) => LOG_LEVELS.indexOf(name) < from ? ignore : (event: string, fields?: Record<string, unknown>) => {
    sink(JSON.stringify({ t: new Date().toISOString(), level: name, event, ...fields }));
  };
  return { debug: writer('debug'), info: writer('info'), warn: writer('warn'), error: writer('error') };
}
