/**
 * Dispatch: one client frame from bytes to its owner's handler. Decoding, the
 * registered types, auth and rate checks, schema validation, the `frame` veto point,
 * then the handler. While a hook or handler of a session is pending, that session's
 * later frames are held in arrival order (bounded); other sessions never wait.
 */
import type { Struct } from 'superstruct';
import { ErrorCode, type AnyErrorCode } from '../protocol/errors.js';
import { NAME_STRUCTS } from '../protocol/schemas.js';
import type { RelayConfig } from './config.js';
import { decodeFrame, type Decoded, type Frame } from './frame.js';
import { internalError, isPromise, type HookRegistry, type PluginFailure } from './hooks.js';
import type { Outbox } from './outbox.js';
import { RATE_JOIN, RATE_MSG, RATE_OTHER, take, type RateIndex } from './rate-limit.js';
import type { SessionState } from './session.js';
import { RelayError, type ErrorExtras, type MessageTypeSpec, type Session } from './types.js';

interface Registered {
  type: string;
  plugin: string;
  schema: Struct<unknown, unknown>;
  check: ((frame: Record<string, unknown>) => boolean) | undefined;
  handle: (session: Session, msg: unknown) => void | Promise<void>;
  beforeIdentify: boolean;
  bucket: RateIndex;
  /** Frames of this type received (a field increment: the cheapest counter on the MSG path). */
  received: number;
}

export interface DispatchStats {
  rateLimited: number;
}

/** uWS has already rejected text frames that are not valid UTF-8. */
const utf8 = new TextDecoder();

export class Dispatcher {
  private readonly types = new Map<string, Registered>();
  /** Whether any plugin hooks `frame`, `held` (looked up once, at listen). */
  private frameHooks = false;
  private heldHooks = false;

  constructor(
    private readonly config: RelayConfig,
    private readonly hooks: HookRegistry,
    private readonly outbox: Outbox,
    private readonly stats: DispatchStats,
    private readonly onFailure: PluginFailure,
  ) {}

  register<T>(type: string, spec: MessageTypeSpec<T>, plugin: string): void {
    const owner = this.types.get(type);
    if (owner !== undefined) throw new Error(`message type ${type} is already owned by plugin ${owner.plugin}; ${plugin} cannot own it too`);
    this.types.set(type, {
      type,
      plugin,
      schema: spec.schema as Struct<unknown, unknown>,
      check: spec.check,
      handle: spec.handle as Registered['handle'],
      beforeIdentify: spec.beforeIdentify === true,
      bucket: spec.rateClass === 'msg' ? RATE_MSG : spec.rateClass === 'join' ? RATE_JOIN : RATE_OTHER,
      received: 0,
    });
  }

  /** Frames received per type (unknown types are not counted: their names are the client's). */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [type, spec] of this.types) out[type] = spec.received;
    return out;
  }

  /** Called once every plugin is set up. */
  ready(): void {
    this.frameHooks = this.hooks.has('frame');
    this.heldHooks = this.hooks.has('held');
  }

  /** A frame from uWS. Its buffer is valid only during this call: it is decoded (or refused) at once. */
  onMessage(session: SessionState, data: ArrayBuffer, isBinary: boolean): void {
    if (isBinary) {
      this.outbox.refuse(session, ErrorCode.INVALID_MSG, 'binary frames are not accepted; send one JSON object per text frame');
      return;
    }
    if (data.byteLength > this.config.maxPayloadBytes) {
      this.outbox.refuse(session, ErrorCode.INVALID_MSG, `frame is ${data.byteLength} bytes; the limit is ${this.config.maxPayloadBytes}`);
      return;
    }
    const held = session.held;
    // Refused before decoding: a client that floods a pending session costs no parse per frame.
    if (held !== null && held.length >= this.config.maxHeldFrames) {
      this.outbox.refuse(session, ErrorCode.RATE_LIMITED,
        `${held.length} frames are already waiting for an earlier request of yours to finish; wait for its answer before sending more`);
      return;
    }
    const decoded = decodeFrame(utf8.decode(data));
    if (held === null) {
      this.run(session, decoded);
      return;
    }
    held.push(decoded);
    if (this.heldHooks && typeof decoded !== 'string') this.hooks.notify('held', session, decoded);
  }

  /** Hold this session's frames until `pending` settles, then handle the held ones in order. */
  hold(session: SessionState, pending: Promise<unknown>): void {
    session.held ??= [];
    pending.then(() => this.drain(session), (err: unknown) => {
      this.onFailure('kernel', 'hold', err);
      this.drain(session);
    });
  }

  private drain(session: SessionState): void {
    const held = session.held;
    while (held !== null && held.length > 0 && session.open) {
      const pending = this.handle(session, held.shift()!);
      if (pending !== undefined) {
        pending.then(() => this.drain(session), () => this.drain(session));
        return;
      }
    }
    session.held = null;
  }

  /** Handle one frame now; a pending result holds the frames after it. */
  private run(session: SessionState, decoded: Decoded): void {
    const pending = this.handle(session, decoded);
    if (pending !== undefined) this.hold(session, pending);
  }

  /** Nothing a client sends may take the relay down: a bug here is logged and answered. */
  private handle(session: SessionState, decoded: Decoded): Promise<void> | undefined {
    try {
      return this.handleFrame(session, decoded);
    } catch (err) {
      this.onFailure('kernel', 'frame', err);
      const answer = internalError();
      this.outbox.refuse(session, answer.code, answer.message);
      return undefined;
    }
  }

  private handleFrame(session: SessionState, frame: Decoded): Promise<void> | undefined {
    if (typeof frame === 'string') {
      this.outbox.refuse(session, ErrorCode.INVALID_MSG, frame);
      return undefined;
    }
    const type = frame.type;
    const spec = this.types.get(type);
    if (spec === undefined) {
      this.outbox.refuse(session, ErrorCode.INVALID_MSG, `unknown message type ${JSON.stringify(type.slice(0, 40))}`, { ref: type.slice(0, 40) });
      return undefined;
    }
    spec.received++;
    if (session.agentId === null && !spec.beforeIdentify) {
      this.outbox.refuse(session, ErrorCode.AUTH_REQUIRED, `send IDENTIFY before ${type}`, { ref: type });
      return undefined;
    }
    const wait = take(session, spec.bucket, this.config, Date.now());
    if (wait > 0) {
      this.stats.rateLimited++;
      this.outbox.refuse(session, ErrorCode.RATE_LIMITED, `rate limit exceeded; retry after ${wait} ms`, { ref: type, retry_after_ms: wait });
      return undefined;
    }
    if (spec.check === undefined || !spec.check(frame)) {
      const failure = validationFailure(spec.schema, frame);
      if (failure !== null) {
        this.outbox.refuse(session, failure.code, failure.message, { ref: type });
        return undefined;
      }
    }
    if (this.frameHooks) {
      const decision = this.hooks.refuse('frame', session, type, frame);
      if (decision !== null) {
        if (decision instanceof RelayError) {
          this.refused(session, spec, decision);
          return undefined;
        }
        return decision.then((refusal) => {
          if (refusal !== null) this.refused(session, spec, refusal);
          else if (session.open) return this.invoke(session, spec, frame);
        });
      }
    }
    return this.invoke(session, spec, frame);
  }

  /** The owner's handler; its refusal (thrown or rejected) is answered with the frame's type as `ref`. */
  private invoke(session: SessionState, spec: Registered, frame: Frame): Promise<void> | undefined {
    let result: void | Promise<void>;
    try {
      result = spec.handle(session, frame);
    } catch (err) {
      this.failed(session, spec, err);
      return undefined;
    }
    if (result === undefined || !isPromise(result)) return undefined;
    return result.then(undefined, (err: unknown) => this.failed(session, spec, err));
  }

  private failed(session: SessionState, spec: Registered, err: unknown): void {
    if (err instanceof RelayError) {
      this.refused(session, spec, err);
      return;
    }
    this.onFailure(spec.plugin, spec.type, err);
    const answer = internalError();
    this.outbox.refuse(session, answer.code, answer.message, { ref: spec.type });
  }

  private refused(session: SessionState, spec: Registered, err: RelayError): void {
    const extras: ErrorExtras = err.extras.ref === undefined ? { ...err.extras, ref: spec.type } : err.extras;
    this.outbox.refuse(session, err.code, err.message, extras);
  }
}

/**
 * The first schema failure, phrased for the client, or null when the frame is valid.
 * A frame that makes validation itself throw (a hostile shape the schema library's
 * message printer trips on) is INVALID_MSG like any other bad frame.
 */
function validationFailure(schema: Struct<unknown, unknown>, frame: unknown): { code: AnyErrorCode; message: string } | null {
  try {
    if (schema.is(frame)) return null;
    const [error] = schema.validate(frame);
    const failure = error?.failures()[0];
    if (!failure) return { code: ErrorCode.INVALID_MSG, message: 'frame does not match its schema' };
    const field = failure.path.join('.') || failure.key || 'frame';
    const code = NAME_STRUCTS.has(failure.type) ? ErrorCode.INVALID_NAME : ErrorCode.INVALID_MSG;
    if (failure.value === undefined) return { code: ErrorCode.INVALID_MSG, message: `missing field "${String(field)}"` };
    // Our own structs phrase their message as a predicate ("must be ..."); superstruct's start with "Expected".
    const detail = failure.message.length > 200 ? failure.message.slice(0, 200) + '…' : failure.message;
    return { code, message: detail.startsWith('Expected') ? `invalid field "${String(field)}": ${detail}` : `"${String(field)}" ${detail}` };
  } catch {
    return { code: ErrorCode.INVALID_MSG, message: 'frame does not match its schema (its shape could not be checked)' };
  }
}
