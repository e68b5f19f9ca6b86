/**
 * Requests the host sent that are not answered yet. When stdin ends, the server
 * answers those first (a script may pipe its calls in and close stdin at once)
 * and only then closes.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

type Id = string | number;

/** Watch a connected transport's requests and responses; `idle()` resolves once every request got its answer. */
export function trackRequests(transport: Transport): { idle(): Promise<void> } {
  const open = new Set<Id>();
  let wake: (() => void) | null = null;
  const receive = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage, extra) => {
    if ('method' in message && 'id' in message) open.add(message.id);
    receive?.(message, extra);
  };
  const send = transport.send.bind(transport);
  transport.send = async (message, options) => {
    await send(message, options);
    if (!('method' in message) && 'id' in message && message.id !== undefined && open.delete(message.id) && open.size === 0) wake?.();
  };
  return {
    idle: () => (open.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve))),
  };
}
