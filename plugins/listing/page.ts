/** Paged answers: items in a stable order after a cursor, up to a byte bound. */
import { MAX_PAGE_BYTES } from '../../protocol/schemas.js';

/** Room kept for the frame's own fields (type, channel, cursor, ts). */
const FRAME_OVERHEAD = 256;

/**
 * The items of `sorted` after `cursor` (by `keyOf`, in the same order) that fit in
 * `maxBytes` of JSON, and the cursor of the next page when some are left.
 */
export function page<T>(sorted: readonly T[], keyOf: (item: T) => string, cursor: string | undefined, maxBytes = MAX_PAGE_BYTES): { list: T[]; cursor?: string } {
  let start = 0;
  if (cursor !== undefined) {
    while (start < sorted.length && keyOf(sorted[start]) <= cursor) start++;
  }
  const list: T[] = [];
  let bytes = FRAME_OVERHEAD;
  for (let i = start; i < sorted.length; i++) {
    const size = Buffer.byteLength(JSON.stringify(sorted[i])) + 1;
    if (bytes + size > maxBytes && list.length > 0) return { list, cursor: keyOf(list[list.length - 1]) };
    bytes += size;
    list.push(sorted[i]);
  }
  return { list };
}
