/**
 * The Akash seed, deploy.yaml: what a hoster decides (image, size, how long to pay
 * for), validated into an AkashSeed. Every bad field is reported, one line each.
 */
import { parseDocument } from 'yaml';

export type SizeUnit = 'Ki' | 'Mi' | 'Gi' | 'Ti' | 'k' | 'M' | 'G' | 'T';
/** A size as Akash writes it: a number and a unit, e.g. `512Mi`. */
export type Size = `${number}${SizeUnit}`;

export interface AkashSeed {
  /** A registry image with a pinned tag or digest. */
  image: string;
  /** vCPUs, e.g. 0.5. */
  cpu: number;
  memory: Size;
  /** The persistent volume mounted at the relay's data dir. */
  storage: Size;
  /** How long the deposit keeps the lease paid at the highest price, in hours. */
  durationHours: number;
  /** Highest bid accepted, in uakt per block. */
  price: number;
}

export const SEED_FIELDS = ['image', 'cpu', 'memory', 'storage', 'duration', 'price'] as const;
export const DEFAULT_PRICE_UAKT = 100;

const UNIT_BYTES: Record<SizeUnit, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
/** Node 20 and the relay need about this much to start and hold a few thousand sessions. */
const MIN_MEMORY = { bytes: 128 * 2 ** 20, text: '128Mi' };
/** Below this a data volume is a typo (a unit left out or wrong). */
const MIN_STORAGE = { bytes: 64 * 2 ** 20, text: '64Mi' };
const HOURS_PER: Record<string, number> = { h: 1, d: 24, w: 24 * 7 };
const IMAGE = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::([\w][\w.-]{0,127})|@sha256:[a-f0-9]{64})$/;

/** The seed's problems, each one line naming its field; thrown by parseSeed. */
export class SeedError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'SeedError';
  }
}

/** A field's value, or why it is refused (a sentence that follows the field's name). */
type Parsed<T> = { value: T } | { problem: string };

/** Parse and validate the text of deploy.yaml; `file` starts each error line. */
export function parseSeed(text: string, file: string): AkashSeed {
  const doc = parseDocument(text);
  // The message's first line ends with "at line L, column C:"; the code excerpt after it is dropped.
  if (doc.errors.length > 0) throw new SeedError(doc.errors.map((e) => `${file}: not valid YAML: ${e.message.split('\n')[0].replace(/:$/, '')}`));
  const raw: unknown = doc.toJS();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SeedError([`${file}: must be a mapping with the fields ${SEED_FIELDS.join(', ')}`]);
  return validateSeed(raw as Record<string, unknown>, file);
}

function validateSeed(raw: Record<string, unknown>, file: string): AkashSeed {
  const problems: string[] = [];
  for (const key of Object.keys(raw)) {
    if (!(SEED_FIELDS as readonly string[]).includes(key)) problems.push(`${file}: unknown field ${key} (the fields are ${SEED_FIELDS.join(', ')})`);
  }
  function field<T>(name: (typeof SEED_FIELDS)[number], parse: (value: unknown) => Parsed<T>, fallback?: T): T {
    const value = raw[name];
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback;
      problems.push(`${file}: ${name} is missing`);
      return undefined as T; // never returned to a caller: problems is not empty
    }
    const parsed = parse(value);
    if ('value' in parsed) return parsed.value;
    problems.push(`${file}: ${name} ${parsed.problem}, got ${JSON.stringify(value)}`);
    return undefined as T;
  }
  const seed: AkashSeed = {
    image: field('image', imageOf),
    cpu: field('cpu', cpuOf),
    memory: field('memory', (v) => sizeOf(v, MIN_MEMORY)),
    storage: field('storage', (v) => sizeOf(v, MIN_STORAGE)),
    durationHours: field('duration', durationOf),
    price: field('price', priceOf, DEFAULT_PRICE_UAKT),
  };
  if (problems.length > 0) throw new SeedError(problems);
  return seed;
}

function imageOf(value: unknown): Parsed<string> {
  const match = typeof value === 'string' ? IMAGE.exec(value) : null;
  if (match === null) return { problem: 'must be an image reference with a tag, e.g. ghcr.io/you/agentchat:0.4.0' };
  // Providers cache images by tag: a lease on :latest runs whatever they pulled first.
  if (match[1] === 'latest') return { problem: 'must pin a version tag or a digest, not :latest' };
  return { value: value as string };
}

function cpuOf(value: unknown): Parsed<number> {
  // Kubernetes millicores ("500m") are how Akash prints CPU back; both spellings are accepted.
  const millis = typeof value === 'string' ? /^(\d+)m$/.exec(value.trim()) : null;
  const cpu = millis ? Number(millis[1]) / 1000 : typeof value === 'number' ? value : NaN;
  const wholeMillis = Math.abs(Math.round(cpu * 1000) - cpu * 1000) < 1e-9;
  if (!Number.isFinite(cpu) || cpu < 0.001 || cpu > 256 || !wholeMillis) {
    return { problem: 'must be vCPUs from 0.001 to 256 (e.g. 0.5) or millicores (e.g. "500m")' };
  }
  return { value: cpu };
}

function sizeOf(value: unknown, min: { bytes: number; text: string }): Parsed<Size> {
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)$/.exec(value.trim()) : null;
  if (match === null) return { problem: 'must be a size with a unit, Ki Mi Gi Ti (or k M G T), e.g. 512Mi or 1Gi' };
  if (Number(match[1]) * UNIT_BYTES[match[2] as SizeUnit] < min.bytes) return { problem: `must be at least ${min.text}` };
  return { value: `${match[1]}${match[2]}` as Size };
}

function durationOf(value: unknown): Parsed<number> {
  const match = typeof value === 'string' ? /^(\d+)(h|d|w)$/.exec(value.trim()) : null;
  if (match === null || Number(match[1]) === 0) return { problem: 'must be a whole number of hours, days or weeks, e.g. 720h, 30d or 4w' };
  return { value: Number(match[1]) * HOURS_PER[match[2]] };
}

function priceOf(value: unknown): Parsed<number> {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return { value };
  return { problem: 'must be a whole number of uakt per block above 0, e.g. 100' };
}
