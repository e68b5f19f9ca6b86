/**
 * `agentchat connect <server>`: an interactive session. Incoming messages print as
 * `[#general] @abcd1234 (name): text`; input lines go to the current channel;
 * slash commands join, leave, DM, list and quit. Works with stdin as a pipe: lines
 * run one after another and end of input quits once they are done.
 */
import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import type { Sade } from 'sade';
import { AgentChatClient, AgentChatError } from '../../client/index.js';
import type { MsgFrame } from '../../protocol/index.js';
import { channelArg } from '../arguments.js';
import { clientOptions, withClientFlags, type ClientFlags } from '../client-options.js';
import { errorLine, EXIT } from '../errors.js';
import { stringFlags } from '../flags.js';
import { status } from '../output.js';

const HELP = 'commands: /join #channel, /leave #channel, /msg @agent text, /who, /quit';

interface ConnectFlags extends ClientFlags {
  join?: unknown;
}

export function registerConnect(prog: Sade): void {
  stringFlags('join');
  withClientFlags(prog.command('connect <server>').describe(`Chat interactively. ${HELP}`))
    .option('--join', 'Channels to join, comma-separated; the last one joined is current (default #general)')
    .example('connect ws://localhost:6667 --join "#general,#agents"')
    .action((server: unknown, flags: ConnectFlags) => connect(server, flags));
}

async function connect(server: unknown, flags: ConnectFlags): Promise<number> {
  const options = clientOptions(server, flags, { reconnect: true });
  const channels = flags.join === undefined ? ['#general'] : String(flags.join).split(',').map((c) => c.trim()).filter(Boolean).map((c) => channelArg(c, 'channel in --join'));
  const client = new AgentChatClient(options);
  const session = new ChatSession(client);
  try {
    const welcome = await client.connect();
    session.names.set(welcome.agent_id, welcome.name);
    say(`* connected to ${client.server} as ${welcome.agent_id} (${welcome.name})`);
    for (const channel of channels) await session.join(channel);
    return await session.run();
  } finally {
    await client.disconnect();
  }
}

/** The prompt on a terminal, redrawn under each line that arrives while someone is typing. */
let activePrompt: Interface | null = null;

function say(line: string): void {
  if (activePrompt === null) {
    process.stdout.write(line + '\n');
    return;
  }
  clearLine(process.stdout, 0);
  cursorTo(process.stdout, 0);
  process.stdout.write(line + '\n');
  activePrompt.prompt(true);
}

class ChatSession {
  /** Agent id → name, from WELCOME, AGENT_JOINED and WHOIS; null: looked up, not connected (asked once). */
  readonly names = new Map<string, string | null>();
  private current: string | null = null;
  /** Incoming frames print in arrival order, even when a name lookup is needed first. */
  private printing: Promise<void> = Promise.resolve();

  constructor(private readonly client: AgentChatClient) {
    client.on('message', (msg) => this.print(() => this.formatMsg(msg)));
    client.on('agent_joined', (f) => {
      if (f.name) this.names.set(f.agent, f.name);
      this.print(async () => `* ${await this.who(f.agent)} joined ${f.channel}`);
    });
    client.on('agent_left', (f) => this.print(async () => `* ${await this.who(f.agent)} left ${f.channel}`));
    // Only ERRORs no request waited for: a refused command reports its own error, once.
    client.on('server_error', (frame) => status(errorLine(AgentChatError.fromFrame(frame))));
    client.on('disconnect', (info) => {
      if (info.willReconnect) status('* connection lost; reconnecting');
    });
    client.on('rejoined', (list) => say(`* reconnected; in ${list.join(' ') || 'no channels'}`));
  }

  /** Read lines until /quit or end of input; resolves with the exit code. */
  async run(): Promise<number> {
    const interactive = process.stdin.isTTY === true;
    const rl = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
    if (interactive) {
      say(`* ${HELP}`);
      rl.setPrompt('> ');
      rl.prompt();
      activePrompt = rl;
      rl.on('close', () => (activePrompt = null));
    }
    let queue: Promise<boolean> = Promise.resolve(true);
    return new Promise<number>((resolve) => {
      const finish = () => {
        rl.close();
        void this.printing.then(() => resolve(EXIT.OK));
      };
      rl.on('line', (line) => {
        queue = queue.then(async (go) => {
          if (!go) return false;
          const more = await this.handle(line.trim());
          if (!more) finish();
          else if (interactive) rl.prompt();
          return more;
        });
      });
      rl.on('close', () => void queue.then((go) => go && finish()));
    });
  }

  async join(channel: string): Promise<void> {
    const joined = await this.client.join(channel);
    this.current = joined.channel;
    say(`* joined ${joined.channel} (${joined.agents.length} agent${joined.agents.length === 1 ? '' : 's'}); talking in ${joined.channel}`);
  }

  /** Run one input line; false means quit. Refusals are reported and the session goes on. */
  private async handle(line: string): Promise<boolean> {
    if (line === '') return true;
    try {
      if (!line.startsWith('/')) {
        if (this.current === null) status('error: no current channel; /join one first');
        else await this.client.send(this.current, line);
        return true;
      }
      const [command, ...rest] = line.split(/\s+/);
      const arg = rest[0];
      switch (command) {
        case '/quit':
        case '/exit':
          return false;
        case '/join':
          if (arg === undefined) status('usage: /join #channel');
          else await this.join(arg);
          return true;
        case '/leave': {
          const channel = arg ?? this.current;
          if (channel === null || channel === undefined) {
            status('usage: /leave #channel');
            return true;
          }
          await this.client.leave(channel);
          if (this.current === channel) this.current = [...this.client.channels][0] ?? null;
          say(`* left ${channel}${this.current ? `; talking in ${this.current}` : ''}`);
          return true;
        }
        case '/msg': {
          const text = line.replace(/^\/msg\s+\S+\s?/, '');
          if (arg === undefined || text === '') status('usage: /msg @agent text');
          else await this.client.dm(arg, text);
          return true;
        }
        case '/who': {
          if (this.current === null) {
            status('error: no current channel; /join one first');
            return true;
          }
          const agents = await this.client.listAgents(this.current);
          const labels = await Promise.all(agents.list.map((id) => this.who(id)));
          say(`* in ${this.current}: ${labels.join(', ')}`);
          return true;
        }
        case '/help':
          say(`* ${HELP}`);
          return true;
        default:
          status(`error: unknown command ${command}; ${HELP}`);
          return true;
      }
    } catch (err) {
      status(errorLine(err));
      return true;
    }
  }

  private print(format: () => Promise<string>): void {
    this.printing = this.printing.then(format).then(say, (err: unknown) => status(errorLine(err)));
  }

  private async formatMsg(msg: MsgFrame): Promise<string> {
    return `[${msg.to}] ${await this.who(msg.from)}: ${msg.content}`;
  }

  /** `@id (name)`, looking the name up once with WHOIS; just `@id` when it cannot be found. */
  private async who(agentId: string): Promise<string> {
    let name = this.names.get(agentId);
    if (name === undefined && this.client.connected) {
      try {
        name = (await this.client.whois(agentId)).name;
      } catch {
        // Gone already (a replayed sender who left), or refused: the id alone still says who it was. Never printed.
        name = null;
      }
      this.names.set(agentId, name);
    }
    return name === undefined || name === null ? agentId : `${agentId} (${name})`;
  }
}
