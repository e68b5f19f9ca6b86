/** JSON-lines logger: one object per line, `t` (ISO time), `level`, `event`, then fields. */
import type { Logger } from './types.js';

export type LogSink = (line: string) => void;

export const stderrSink: LogSink = (line) => {
  process.stderr.write(line + '\n');
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
