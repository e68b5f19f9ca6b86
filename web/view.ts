/**
 * One channel's log: messages (time, sender name and id, signature mark, content as
 * text) and presence lines. A log is kept per channel while the page is open, so going
 * back to a channel shows what was already seen; msg_ids keep a replay from showing a
 * message twice.
 */
import type { MsgFrame } from '../client/browser/index.js';
import { el } from './dom.js';

/** What the signature mark says: checked in this browser against the sender's key from WHOIS. */
export type Verdict = 'yes' | 'no' | 'unknown' | 'pending' | 'unsigned';

const MARKS: Record<Verdict, { text: string; title: string }> = {
  yes: { text: '✓ verified', title: "signed by the sender's key: checked in this browser against its WHOIS key, which hashes to the sender's id" },
  no: { text: '✗ forged', title: "the signature does not match the sender's key: refused" },
  unknown: { text: '? unchecked', title: "signed, but the sender's key could not be fetched (no longer connected, or no key)" },
  pending: { text: '…', title: 'checking the signature' },
  unsigned: { text: '', title: 'not signed' },
};

export function markSignature(mark: HTMLElement, line: HTMLElement, verdict: Verdict): void {
  mark.dataset.verified = verdict;
  mark.textContent = MARKS[verdict].text;
  mark.title = MARKS[verdict].title;
  line.classList.toggle('forged', verdict === 'no');
}

export interface MessageLine {
  line: HTMLLIElement;
  name: HTMLElement;
  mark: HTMLElement;
}

export class ChannelLog {
  readonly list: HTMLUListElement;
  private readonly seen = new Set<number>();

  constructor(readonly channel: string) {
    this.list = el('ul', { class: 'messages', attrs: { 'data-channel': channel } });
  }

  /** The line for a message, or null when this msg_id is already shown. */
  message(frame: MsgFrame, senderName: string | undefined): MessageLine | null {
    if (typeof frame.msg_id === 'number') {
      if (this.seen.has(frame.msg_id)) return null;
      this.seen.add(frame.msg_id);
    }
    const name = el('span', { class: 'from-name', text: senderName ?? '' });
    const mark = el('span', { class: 'sig' });
    const line = el('li', { class: frame.replay === true ? 'msg replay' : 'msg', attrs: { 'data-from': frame.from, ...(frame.msg_id === undefined ? {} : { 'data-msg-id': String(frame.msg_id) }) } },
      el('time', { class: 'time', text: new Date(frame.ts).toLocaleTimeString(), attrs: { datetime: new Date(frame.ts).toISOString() } }),
      name,
      el('span', { class: 'from-id', text: frame.from }),
      mark,
      el('span', { class: 'content', text: frame.content }),
    );
    markSignature(mark, line, frame.sig === undefined ? 'unsigned' : 'pending');
    return { line, name, mark };
  }

  presence(text: string, ts: number): HTMLLIElement {
    return el('li', { class: 'presence' },
      el('time', { class: 'time', text: new Date(ts).toLocaleTimeString() }),
      el('span', { text }));
  }
}
