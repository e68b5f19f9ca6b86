/**
 * Run an MCP server on stdin/stdout until the host closes stdin (or sends
 * SIGINT/SIGTERM): one relay connection for the whole session. stdout carries
 * only MCP frames; status lines go to stderr, which hosts keep as the server's log.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { AgentChatClient, type LoadedIdentity } from '../client/index.js';
import { RelayConnection, type Log } from './connection.js';
import { DEFAULT_INBOX_LIMITS, Inbox } from './inbox.js';
import { SendPolicy, type SendPolicyOptions } from './policy.js';
import { trackRequests } from './in-flight.js';
import { createMcpServer } from './server.js';

export interface McpRunOptions {
  server: string;
  /** Loaded identity (persistent id, signed sends), or undefined for an ephemeral agent. */
  identity?: LoadedIdentity;
  /** The identity's file, shown by the `status` tool. */
  identityPath?: string;
  name?: string;
  join: readonly string[];
  policy: SendPolicyOptions;
  readMaxBytes: number;
  version: string;
  log: Log;
}

export async function runMcp(options: McpRunOptions): Promise<void> {
  const client = new AgentChatClient({ server: options.server, identity: options.identity, name: options.name, reconnect: true });
  const inbox = new Inbox(DEFAULT_INBOX_LIMITS);
  const connection = new RelayConnection(client, inbox, options.log, options.join);
  const server = createMcpServer({
    connection,
    inbox,
    policy: new SendPolicy(options.policy),
    readMaxBytes: options.readMaxBytes,
    identityPath: options.identityPath ?? null,
    version: options.version,
  });

  const transport = new StdioServerTransport();
  await server.connect(transport);
  const requests = trackRequests(transport);
  // The host closing stdin is the end of the session; what it asked before is still answered. A signal ends it at once.
  const ended = new Promise<void>((resolve) => {
    const drain = () => void requests.idle().then(resolve);
    process.stdin.once('end', drain);
    process.stdin.once('close', drain);
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // Connect now so messages are buffered before the first read; a failure is retried by the next tool call.
  connection.ready().catch((err: Error) => options.log(`error: ${err.message}; the next tool call tries again`));
  await ended;
  await server.close();
  await connection.close();
  options.log('closed');
}
