/**
 * Content negotiation at GET /: a page (the web plugin's) or the JSON information
 * document. The web plugin hands its page over through `htmlAtRoot(relay)`, since one
 * plugin owns a path and health owns '/'.
 */
import type { HttpRoute, RelayApi } from '../../kernel/types.js';

/** Where another plugin puts the HTML answer of GET /; null: no page, / answers as before. */
export interface HtmlAtRoot {
  page: HttpRoute | null;
}

export const htmlAtRoot = (relay: RelayApi): HtmlAtRoot => relay.shared<HtmlAtRoot>('health.htmlAtRoot', () => ({ page: null }));

/**
 * The client prefers HTML: text/html is listed with a higher q than application/json. A
 * browser's Accept lists text/html and no JSON; `*\/*` alone (curl), no Accept, and any
 * Accept naming application/json at least as high keep the JSON answers of before.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  let html = 0;
  let json = 0;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'text/html') html = Math.max(html, q);
    else if (type === 'application/json') json = Math.max(json, q);
  }
  return html > 0 && html > json;
}
