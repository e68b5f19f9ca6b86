/**
 * Frame decoding: one JSON object per text frame. Returns the object, or a string
 * saying what is wrong with the frame (the kernel answers it as INVALID_MSG).
 */

// Keys that could reach an object's prototype if a plugin ever merged a frame
// into another object. Checked precisely only when the cheap scan hits: a key
// spelled out, or any \u escape (which could spell one).
const SUSPECT_KEY = /"(?:__proto__|constructor|prototype)"\s*:|\\u/;
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

export type Frame = Record<string, unknown> & { type: string };

/** A frame as decodeFrame left it: the object, or why it is not one (answered as INVALID_MSG at its turn). */
export type Decoded = Frame | string;

export function decodeFrame(text: string): Frame | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'frame is not valid JSON; send one JSON object per text frame';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'frame must be a JSON object like {"type":"PING"}';
  }
  if (SUSPECT_KEY.test(text) && hasForbiddenKey(value)) {
    return 'frame has a forbidden key (__proto__, constructor or prototype)';
  }
  const type = (value as Record<string, unknown>).type;
  if (type === undefined) return 'frame has no "type" field';
  if (typeof type !== 'string') return 'frame field "type" must be a string';
  return value as Frame;
}

/** Iterative, so a deeply nested frame cannot overflow the stack. */
function hasForbiddenKey(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN.has(key)) return true;
      stack.push((value as Record<string, unknown>)[key]);
    }
  }
  return false;
}
