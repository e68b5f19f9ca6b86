/**
 * A raw-TCP WebSocket client cheap enough that the relay saturates before it does: frames it
 * sends are built once (mask key zero, so the payload goes as is), and once counting is on it
 * counts the relay's text frames by walking frame headers, never decoding or parsing them.
 * Before that (identify, join) it hands whole frames up as a `ws` client would, so setup shares
 * the `ws` agents' code. Timed counting (fixed loads) also reads each delivery's sender, sequence
 * and send time from its content's digits (`"content":"B|run|idx|seq|sent ns|`), still without
 * JSON: then order and latency are checked as the `ws` generator checks them, by a receiver cheap
 * enough that reading a burst of deliveries does not become the latency it measures.
 *
 * It offers the slice of the `ws` WebSocket surface the worker uses: send, url, readyState,
 * terminate, and the open / message / error / close events.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

const OPEN = 1;
const CLOSED = 3;
/** `{"type":"` is 9 bytes: the byte after it tells an ERROR from a MSG without parsing. */
const TYPE_AT = 9;
const E = 0x45;
/** Where a bench fan-out content starts; its fields follow, `|`-separated digits. */
const CONTENT_B = Buffer.from('"content":"B|');
const BAR = 0x7c;

/** Told of each timed delivery: the fields of its content and when its last chunk arrived (hrtime ns). */
export type TimedListener = (run: number, idx: number, seq: number, sentNs: number, recvNs: number) => void;

/**
 * The fields of a bench `B` content in `payload[start, end)`: run, sender index, sequence, send
 * time (ns), written into `into`. False when the payload carries none (then it is no delivery).
 */
export function readTimed(payload: Buffer, start: number, end: number, into: Float64Array): boolean {
  const at = payload.subarray(start, end).indexOf(CONTENT_B);
  if (at < 0) return false;
  let i = start + at + CONTENT_B.length;
  for (let f = 0; f < 4; f++) {
    let v = 0;
    const from = i;
    while (i < end) {
      const c = payload[i];
      if (c === BAR) break;
      const d = c - 0x30;
      if (d < 0 || d > 9) return false;
      v = v * 10 + d;
      i++;
    }
    if (i === from || i >= end) return false;
    into[f] = v;
    i++;
  }
  return true;
}

/** One client text frame, masked with the zero key (a masked frame is mandatory; the key may be zero). */
export function maskedFrame(text: string | Buffer): Buffer {
  const payload = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const n = payload.length;
  const head = n < 126 ? 6 : n < 65536 ? 8 : 14;
  const frame = Buffer.alloc(head + n);
  frame[0] = 0x81;
  if (n < 126) {
    frame[1] = 0x80 | n;
  } else if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  // bytes head-4 .. head-1: the mask key, zero.
  payload.copy(frame, head);
  return frame;
}

export class RawSocket extends EventEmitter {
  readyState = 0;
  /** While counting, told of each text frame: `error` for an ERROR (told apart by one byte), which is no delivery. */
  onCount: ((error: boolean) => void) | null = null;
  /** While counting timed, told of each delivery instead of onCount (which still hears ERRORs). */
  onTimed: TimedListener | null = null;
  private counting = false;
  /** When the chunk being walked arrived (hrtime ns): a frame is received when its last byte is. */
  private chunkNs = 0;
  /** The current frame is a timed delivery whose payload crosses a chunk boundary: it is gathered. */
  private timedPending = false;
  private readonly fields = new Float64Array(4);
  private readonly socket: Socket;
  private handshake: Buffer | null = Buffer.alloc(0);
  /** Partial frame header carried over a chunk boundary. */
  private head = Buffer.alloc(0);
  /** Payload bytes of the current frame still to come. */
  private remaining = 0;
  private opcode = 0;
  /** The current frame's payload, when it is handed up (setup) or is a control frame. */
  private parts: Buffer[] | null = null;
  private closeCode = 1006;

  constructor(readonly url: string) {
    super();
    const u = new URL(url);
    this.socket = connect({ host: u.hostname, port: Number(u.port), noDelay: true });
    this.socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      this.socket.write(`GET ${u.pathname || '/'} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.emit('error', err));
    this.socket.on('close', () => {
      if (this.readyState === CLOSED) return;
      this.readyState = CLOSED;
      this.emit('close', this.closeCode, Buffer.alloc(0));
    });
  }

  /** From now on text frames are counted, not handed up. */
  count(on: boolean): void {
    this.counting = on;
  }

  send(data: string | Buffer): void {
    if (this.readyState !== OPEN) return;
    this.socket.write(typeof data === 'string' ? maskedFrame(data) : data);
  }

  /** Several pre-built frames in one write. */
  sendMany(frames: Buffer[]): void {
    if (this.readyState !== OPEN || frames.length === 0) return;
    this.socket.cork();
    for (const f of frames) this.socket.write(f);
    this.socket.uncork();
  }

  /** Hold writes until uncork: the frames of one tick go in one write. */
  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  terminate(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.onTimed !== null) this.chunkNs = Number(process.hrtime.bigint());
    if (this.handshake !== null) {
      const all = Buffer.concat([this.handshake, chunk]);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        this.handshake = all;
        return;
      }
      const status = all.subarray(0, all.indexOf('\r\n')).toString();
      this.handshake = null;
      if (!/^HTTP\/1\.1 101/.test(status)) {
        this.emit('error', new Error(`upgrade refused: ${status}`));
        this.socket.destroy();
        return;
      }
      this.readyState = OPEN;
      this.emit('open');
      chunk = all.subarray(end + 4);
      if (chunk.length === 0) return;
    }
    this.walk(chunk);
  }

  /** Walk frames: headers are read, payloads skipped (counting) or gathered (setup, control frames). */
  private walk(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - i);
        if (this.parts !== null) this.parts.push(chunk.subarray(i, i + take));
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.frameDone();
        continue;
      }
      // A header: 2 bytes, then 2 or 8 of length (server frames are never masked).
      let h = chunk;
      let at = i;
      if (this.head.length > 0) {
        h = Buffer.concat([this.head, chunk.subarray(i, i + 10)]);
        at = 0;
      }
      const avail = h.length - at;
      if (avail < 2) {
        this.head = Buffer.from(h.subarray(at));
        return;
      }
      const len7 = h[at + 1] & 0x7f;
      const size = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
      if (avail < size) {
        this.head = Buffer.from(h.subarray(at, at + avail));
        return;
      }
      const length = len7 < 126 ? len7 : len7 === 126 ? h.readUInt16BE(at + 2) : Number(h.readBigUInt64BE(at + 2));
      this.opcode = h[at] & 0x0f;
      if (this.head.length > 0) {
        // Consumed from this chunk: the header bytes that were not carried over.
        i += size - this.head.length;
        this.head = Buffer.alloc(0);
      } else {
        i += size;
      }
      const text = this.opcode === 1 || this.opcode === 0;
      if (text && this.counting) {
        // One byte of the payload tells an ERROR (`{"type":"ERROR"…`) from a delivery, when it is in this chunk.
        const error = i + TYPE_AT < n && chunk[i + TYPE_AT] === E;
        this.parts = null;
        if (this.onTimed === null || error) {
          this.onCount?.(error);
        } else if (i + length <= n) {
          this.timed(chunk, i, i + length);
        } else {
          this.parts = [];
          this.timedPending = true;
        }
      } else {
        this.parts = [];
      }
      this.remaining = length;
      if (length === 0) this.frameDone();
    }
  }

  private timed(payload: Buffer, start: number, end: number): void {
    const f = this.fields;
    if (readTimed(payload, start, end, f)) this.onTimed?.(f[0], f[1], f[2], f[3], this.chunkNs);
    else this.onTimed?.(-1, -1, -1, 0, this.chunkNs);
  }

  private frameDone(): void {
    const parts = this.parts;
    this.parts = null;
    if (parts === null) return;
    const payload = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    if (this.timedPending) {
      this.timedPending = false;
      this.timed(payload, 0, payload.length);
      return;
    }
    switch (this.opcode) {
      case 1:
      case 0:
        this.emit('message', Buffer.from(payload), false);
        return;
      case 8:
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.readyState = CLOSED;
        this.socket.destroy();
        this.emit('close', this.closeCode, payload.subarray(2));
        return;
      case 9: {
        // PING: answer PONG with the same payload, masked with the zero key.
        const pong = maskedFrame(payload);
        pong[0] = 0x8a;
        this.socket.write(pong);
        return;
      }
      default:
    }
  }
}
