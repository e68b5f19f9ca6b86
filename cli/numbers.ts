/** The one parser of number flags: every command's numeric flags and their usage errors. */
import { UsageError } from './errors.js';

export interface NumberRule {
  /** Whole numbers only. */
  integer?: boolean;
  /** Smallest value allowed. */
  min?: number;
  /** Largest value allowed. */
  max?: number;
  /** Values must be above this one (0: "positive"). */
  above?: number;
  /** Unit named in the error, e.g. 'seconds'. */
  unit?: string;
}

/** `value` (a flag's or an environment variable's text) as a number obeying `rule`; else a usage error naming `flag`. */
export function parseNumber(value: unknown, flag: string, rule: NumberRule = {}): number {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  const n = text === '' ? NaN : Number(text);
  const ok = Number.isFinite(n)
    && (!rule.integer || Number.isInteger(n))
    && (rule.min === undefined || n >= rule.min)
    && (rule.max === undefined || n <= rule.max)
    && (rule.above === undefined || n > rule.above);
  if (!ok) throw new UsageError(`${flag} must be ${describeNumber(rule)}, got ${JSON.stringify(value === true ? '' : value)}`);
  return n;
}

/** The same, or undefined when the flag was not given. */
export function optionalNumber(value: unknown, flag: string, rule: NumberRule = {}): number | undefined {
  return value === undefined ? undefined : parseNumber(value, flag, rule);
}

/** "a positive integer", "an integer from 0 to 65535", "a non-negative number of seconds". */
export function describeNumber(rule: NumberRule): string {
  const noun = rule.integer ? 'integer' : 'number';
  const unit = rule.unit ? ` of ${rule.unit}` : '';
  if (rule.min !== undefined && rule.max !== undefined) return `an ${noun} from ${rule.min} to ${rule.max}${unit}`;
  if (rule.above === 0 && rule.max === undefined) return `a positive ${noun}${unit}`;
  if (rule.min === 0 && rule.max === undefined) return `a non-negative ${noun}${unit}`;
  const bounds = [
    rule.min !== undefined ? `at least ${rule.min}` : '',
    rule.above !== undefined ? `above ${rule.above}` : '',
    rule.max !== undefined ? `at most ${rule.max}` : '',
  ].filter(Boolean);
  return `${noun === 'integer' ? 'an integer' : 'a number'}${unit}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
}
