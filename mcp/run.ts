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

  const ended = new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.connect(new StdioServerTransport());
  // Connect now so messages are buffered before the first read; a failure is retried by the next tool call.
  connection.ready().catch((err: Error) => options.log(`error: ${err.message}; the next tool call tries again`));
  await ended;
  await server.close();
  await connection.close();
  options.log('closed');
}
