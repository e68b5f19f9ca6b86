/**
 * Tool results as the model sees them: the outcome as JSON (text, and the same
 * object as structured content), and failures as tool errors (`isError: true`)
 * carrying a code and a one-line message.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AgentChatError } from '../client/index.js';
import { InboxIdError } from './inbox.js';
import { PolicyError } from './policy.js';

export type Outcome = Record<string, unknown>;

/** A successful outcome; `preamble`, when given, is a text block shown before the JSON. */
export function ok(outcome: Outcome, preamble?: string): CallToolResult {
  // Compact: read's byte bound is on this JSON, and every byte is a token to the model.
  const json = { type: 'text' as const, text: JSON.stringify(outcome) };
  return { content: preamble === undefined ? [json] : [{ type: 'text', text: preamble }, json], structuredContent: outcome };
}

/** A failure: the relay's code and message for a refusal, this session's for a policy refusal. */
export function failure(err: unknown): CallToolResult {
  const error = errorOutcome(err);
  return {
    isError: true,
    content: [{ type: 'text', text: `${error.code}: ${error.message}` }],
    structuredContent: { error },
  };
}

export interface ErrorOutcome {
  code: string;
  message: string;
  /** The specific cause of an INVALID_PROPOSAL. */
  reason?: string;
  retry_after_ms?: number;
}

function errorOutcome(err: unknown): ErrorOutcome {
  if (err instanceof AgentChatError) {
    const out: ErrorOutcome = { code: err.code, message: err.message };
    if (err.reason !== undefined) out.reason = err.reason;
    if (err.retry_after_ms !== undefined) out.retry_after_ms = err.retry_after_ms;
    return out;
  }
  if (err instanceof PolicyError || err instanceof InboxIdError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL_ERROR', message: err instanceof Error ? err.message : String(err) };
}

/** Run a tool body; any throw becomes a tool error. */
export async function attempt(body: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await body();
  } catch (err) {
    return failure(err);
  }
}
