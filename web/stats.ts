/**
 * The relay panel: sessions, channels and messages delivered per second, polled from
 * GET /web/stats each second; the rate is the difference of the delivered counter over
 * server time, drawn as a one-minute line.
 */
import { byId } from './dom.js';

interface Stats {
  sessions: number;
  channels: number;
  messages_delivered: number;
  ts: number;
}

const POINTS = 60;
const POLL_MS = 1000;

export function startStats(): void {
  const sessions = byId('stat-sessions', HTMLElement);
  const channels = byId('stat-channels', HTMLElement);
  const rate = byId('stat-rate', HTMLElement);
  const line = byId('rate-line', SVGPolylineElement);
  const rates: number[] = [];
  let last: Stats | null = null;

  const draw = (): void => {
    const max = Math.max(1, ...rates);
    const step = 120 / (POINTS - 1);
    const offset = POINTS - rates.length;
    line.setAttribute('points', rates.map((r, i) => `${((offset + i) * step).toFixed(1)},${(38 - (r / max) * 36).toFixed(1)}`).join(' '));
  };

  const poll = async (): Promise<void> => {
    try {
      const response = await fetch('/web/stats', { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const now = (await response.json()) as Stats;
      sessions.textContent = String(now.sessions);
      channels.textContent = String(now.channels);
      // A restarted relay counts from zero again: that interval says nothing about the rate.
      if (last !== null && now.ts > last.ts && now.messages_delivered >= last.messages_delivered) {
        const perSec = ((now.messages_delivered - last.messages_delivered) * 1000) / (now.ts - last.ts);
        rates.push(perSec);
        if (rates.length > POINTS) rates.shift();
        rate.textContent = perSec.toFixed(1);
        draw();
      }
      last = now;
    } catch {
      sessions.textContent = channels.textContent = rate.textContent = '–';
      last = null;
    }
  };
  void poll();
  setInterval(() => void poll(), POLL_MS);
}
