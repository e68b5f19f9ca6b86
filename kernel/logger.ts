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

export function createLogger(sink: LogSink | false): Logger {
  if (sink === false) return { info() {}, warn() {}, error() {} };
  const write = (level: string, event: string, fields?: Record<string, unknown>) => {
    sink(JSON.stringify({ t: new Date().toISOString(), level, event, ...fields }));
  };
  return {
    info: (event, fields) => write('info', event, fields),
    warn: (event, fields) => write('warn', event, fields),
    error: (event, fields) => write('error', event, fields),
  };
}
