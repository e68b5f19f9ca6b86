/**
 * A raw-TCP WebSocket client cheap enough that the relay saturates before it does: frames it
 * sends are built once (mask key zero, so the payload goes as is), and once counting is on it
 * counts the relay's text frames by walking frame headers, never decoding or parsing them.
 * Before that (identify, join) it hands whole frames up as a `ws` client would, so setup shares
 * the `ws` agents' code. Correctness (sequence, loss, latency) stays with the `ws` generator.
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
  private counting = false;
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
        this.onCount?.(i + TYPE_AT < n && chunk[i + TYPE_AT] === E);
        this.parts = null;
      } else {
        this.parts = [];
      }
      this.remaining = length;
      if (length === 0) this.frameDone();
    }
  }

  private frameDone(): void {
    const parts = this.parts;
    this.parts = null;
    if (parts === null) return;
    const payload = parts.length === 1 ? parts[0] : Buffer.concat(parts);
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
