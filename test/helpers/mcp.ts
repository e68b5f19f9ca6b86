/**
 * `node dist/cli.js mcp …` driven by the MCP SDK's own Client over stdio, as a
 * host drives it; the child is closed (stdin ended, then killed) at teardown.
 */
import { PassThrough } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ExecutionContext } from 'ava';
import { CLI, REPO } from './cli.js';

export interface McpSession {
  client: Client;
  transport: StdioClientTransport;
  /** Call a tool; resolves with its result, tool errors included (isError). */
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** Call a tool that must succeed; resolves with its structured outcome. */
  outcome<T = Record<string, unknown>>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** The server's pid. */
  pid: number;
  /** Close the session as a host does (stdin ends; SIGTERM, then SIGKILL, if it lingers); resolves once the process is gone. */
  close(): Promise<void>;
}

export interface McpStartOptions {
  /** HOME for the child: decides whether ~/.agentchat/identity.json exists. */
  home: string;
}

/** Start `agentchat mcp <url> ...args` and complete the MCP handshake. */
export async function startMcp(t: ExecutionContext, url: string, args: string[], options: McpStartOptions): Promise<McpSession> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', url, ...args],
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: options.home, NO_COLOR: '1' },
    stderr: 'pipe',
  });
  let stderr = '';
  const errStream = transport.stderr as PassThrough | null;
  errStream?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const client = new Client({ name: 'agentchat-test', version: '0.0.0' });
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= client.close());
  t.teardown(() => close());
  await client.connect(transport);
  const pid = transport.pid!;
  const call = async (name: string, args: Record<string, unknown> = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult;
  return {
    client,
    transport,
    call,
    async outcome<T>(name: string, args: Record<string, unknown> = {}) {
      const result = await call(name, args);
      if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}\nstderr:\n${stderr}`);
      return result.structuredContent as T;
    },
    stderr: () => stderr,
    pid,
    close,
  };
}

/** Whether a process with this pid still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
