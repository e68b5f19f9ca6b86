/**
 * The channels one session is in. Sessions are many and their channels few (100 at
 * most, usually one): the first is a plain field, more go in an exact-size array. A
 * hash set would cost several times the memory per session and be no faster at these sizes.
 */
export class ChannelList implements ReadonlySet<string> {
  private one: string | undefined = undefined;
  private many: string[] | undefined = undefined;

  get size(): number {
    return this.many !== undefined ? this.many.length : this.one !== undefined ? 1 : 0;
  }
  has(name: string): boolean {
    return this.many !== undefined ? this.many.includes(name) : this.one === name;
  }
  add(name: string): void {
    if (this.has(name)) return;
    if (this.many !== undefined) this.many = this.many.concat(name);
    else if (this.one === undefined) this.one = name;
    else {
      this.many = [this.one, name];
      this.one = undefined;
    }
  }
  delete(name: string): boolean {
    if (!this.has(name)) return false;
    if (this.many === undefined) {
      this.one = undefined;
      return true;
    }
    const rest = this.many.filter((n) => n !== name);
    if (rest.length === 1) {
      this.one = rest[0];
      this.many = undefined;
    } else this.many = rest;
    return true;
  }
  clear(): void {
    this.one = undefined;
    this.many = undefined;
  }
  /** A snapshot: the list may change while a caller walks it. */
  private snapshot(): string[] {
    return this.many !== undefined ? [...this.many] : this.one !== undefined ? [this.one] : [];
  }
  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const name of this.snapshot()) fn.call(thisArg, name, name, this);
  }
  values(): SetIterator<string> {
    return this.snapshot().values();
  }
  keys(): SetIterator<string> {
    return this.values();
  }
  entries(): SetIterator<[string, string]> {
    return this.snapshot().map((name): [string, string] => [name, name]).values();
  }
  [Symbol.iterator](): SetIterator<string> {
    return this.values();
  }
}
