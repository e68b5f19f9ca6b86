/**
 * The relay connection an MCP session keeps for its whole life: one
 * AgentChatClient (which reconnects and re-joins by itself) feeding the inbox with
 * what other agents send. A tool call finding it down after the client gave up,
 * or before it ever connected, connects again.
 */
import { AgentChatClient, AgentChatError } from '../client/index.js';
import { isChannel, type MsgFrame, type ProposalFrame, type ProposalStepFrame } from '../protocol/index.js';
import type { Inbox } from './inbox.js';

export type Log = (line: string) => void;

export class RelayConnection {
  private connecting: Promise<void> | null = null;
  private reconnecting = false;
  private everConnected = false;

  constructor(
    readonly client: AgentChatClient,
    private readonly inbox: Inbox,
    private readonly log: Log,
    /** Channels to join on the first connect (a reconnect re-joins what the session is in). */
    private readonly initialChannels: readonly string[] = [],
  ) {
    client.on('message', (frame) => this.onMessage(frame));
    client.on('proposal', (frame) => this.onProposal(frame));
    for (const step of ['accept', 'reject', 'complete', 'dispute'] as const) client.on(step, (frame) => this.onStep(frame));
    client.on('disconnect', (info) => {
      if (info.willReconnect) log(`connection to ${client.server} lost (${info.code}); reconnecting`);
    });
    client.on('reconnecting', () => (this.reconnecting = true));
    client.on('reconnect', (welcome) => {
      this.reconnecting = false;
      log(`reconnected as ${welcome.agent_id}`);
    });
    client.on('reconnect_failed', ({ attempts }) => {
      this.reconnecting = false;
      log(`gave up reconnecting after ${attempts} attempts; the next tool call tries again`);
    });
    // A relay ERROR that answered no request (e.g. a late refusal) is logged, never a crash.
    client.on('error', (frame) => log(`relay error: ${frame.code}: ${frame.message}`));
  }

  /** Connected and identified, or throws the reason as an AgentChatError. */
  async ready(): Promise<AgentChatClient> {
    if (this.client.connected) return this.client;
    if (this.reconnecting) {
      throw new AgentChatError('NOT_CONNECTED', `connection to ${this.client.server} lost; reconnecting, try again in a few seconds`);
    }
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    await this.connecting;
    return this.client;
  }

  close(): Promise<void> {
    return this.client.disconnect();
  }

  private async connect(): Promise<void> {
    // After the client gave up reconnecting it still lists the session's channels: join those again.
    const channels = this.everConnected ? [...this.client.channels] : this.initialChannels;
    const welcome = await this.client.connect();
    this.everConnected = true;
    this.log(`connected to ${this.client.server} as ${welcome.agent_id}`);
    for (const channel of channels) await this.client.join(channel);
  }

  private get me(): string | null {
    return this.client.agentId;
  }

  private onMessage(frame: MsgFrame): void {
    // Its own messages come back as channel echoes and DM echoes: the model knows what it sent.
    if (frame.from === this.me) return;
    const out: Record<string, unknown> = { type: 'MSG', from: frame.from, to: frame.to, content: frame.content, ts: frame.ts, signed: frame.sig !== undefined };
    const msgId = (frame as MsgFrame & { msg_id?: unknown }).msg_id;
    if (msgId !== undefined) out.msg_id = msgId;
    if (frame.replay === true) out.replay = true;
    // The relay verified the signature; the frame's sig itself is of no use to a model.
    this.inbox.add(isChannel(frame.to) ? frame.to : frame.from, out);
  }

  private onProposal(frame: ProposalFrame): void {
    if (frame.from === this.me) return;
    const { type, id, from, to, task, amount, currency, payment_code, terms, expires, status, created_at, ts } = frame;
    this.inbox.add(from, { type, proposal_id: id, from, to, task, amount, currency, payment_code, terms, expires, status, created_at, ts });
  }

  private onStep(frame: ProposalStepFrame): void {
    if (frame.by === this.me) return;
    const { type, proposal_id, status, by, from, to, payment_code, reason, proof, updated_at, ts } = frame;
    this.inbox.add(by, { type, proposal_id, status, by, from, to, payment_code, reason, proof, updated_at, ts });
  }
}
