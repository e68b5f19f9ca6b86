/**
 * Requests waiting for their answer frame. The relay answers in the order it
 * received requests, so the oldest matching request is always the right one;
 * keys (channel, agent, to+content) keep concurrent requests of one type apart.
 */
import type { ErrorFrame } from '../protocol/messages.js';
import { AgentChatError } from './errors.js';

/** Any frame from the relay, as far as matching is concerned. */
export interface AnyFrame {
  type: string;
  [field: string]: unknown;
}

export interface PendingSpec {
  /** Request types an ERROR's `ref` may name to reject this request. */
  refs: readonly string[];
  /** Type of the frame that answers it. */
  answer: string;
  /** Further test on a frame of that type (channel, agent, to+content). */
  match?: (frame: AnyFrame) => boolean;
  /** What it waits for, for the timeout message: e.g. 'JOINED #foo'. */
  label: string;
  timeoutMs: number;
}

interface Entry {
  spec: PendingSpec;
  resolve: (frame: AnyFrame) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class PendingRequests {
  private readonly entries: Entry[] = [];

  /** Wait for the answer described by `spec`; rejects on ERROR, timeout or `rejectAll`. */
  add<T extends AnyFrame>(spec: PendingSpec): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = {
        spec,
        resolve: resolve as (frame: AnyFrame) => void,
        reject,
        timer: setTimeout(() => {
          this.remove(entry);
          reject(new AgentChatError('TIMEOUT', `timed out after ${spec.timeoutMs} ms waiting for ${spec.label}`));
        }, spec.timeoutMs),
      };
      this.entries.push(entry);
    });
  }

  /** Resolve the oldest request this frame answers; false if it answers none. */
  answer(frame: AnyFrame): boolean {
    const entry = this.entries.find((e) => e.spec.answer === frame.type && (e.spec.match === undefined || e.spec.match(frame)));
    if (entry === undefined) return false;
    this.remove(entry);
    entry.resolve(frame);
    return true;
  }

  /**
   * Reject the request an ERROR answers: the oldest whose type is the ERROR's `ref`,
   * or without `ref` the oldest of all. False if none is waiting.
   */
  fail(frame: ErrorFrame): boolean {
    const ref = frame.ref;
    const entry = this.entries.find((e) => ref === undefined || e.spec.refs.includes(ref));
    if (entry === undefined) return false;
    this.remove(entry);
    entry.reject(AgentChatError.fromFrame(frame));
    return true;
  }

  /** Reject everything (the connection is gone: no answer can come). */
  rejectAll(err: Error): void {
    for (const entry of this.entries.splice(0)) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
  }

  private remove(entry: Entry): void {
    clearTimeout(entry.timer);
    const i = this.entries.indexOf(entry);
    if (i !== -1) this.entries.splice(i, 1);
  }
}
