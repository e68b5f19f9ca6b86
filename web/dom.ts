/** DOM building with text only: every string lands in textContent or an attribute, never in markup. */

export interface ElementSpec {
  class?: string;
  text?: string;
  attrs?: Record<string, string>;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, spec: ElementSpec = {}, ...children: Node[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (spec.class !== undefined) node.className = spec.class;
  if (spec.text !== undefined) node.textContent = spec.text;
  for (const [name, value] of Object.entries(spec.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** The element with this id, of the expected kind; a page without it is a build error, said plainly. */
export function byId<T extends HTMLElement | SVGElement>(id: string, kind: new () => T): T {
  const node = document.getElementById(id);
  if (!(node instanceof kind)) throw new Error(`page element #${id} is missing or not a ${kind.name}`);
  return node;
}

/** Keep the view pinned to the newest line only when the reader was already at the bottom. */
export function appendScrolled(container: HTMLElement, list: HTMLElement, item: HTMLElement): void {
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  list.append(item);
  if (atBottom) container.scrollTop = container.scrollHeight;
}
