/**
 * The channels one session is in. Sessions are many and their channels few (100 at
 * most), so an array costs a third of a hash set's memory per session and is as fast
 * to search at these sizes.
 */
export class ChannelList implements ReadonlySet<string> {
  private names: string[] = [];

  get size(): number {
    return this.names.length;
  }
  has(name: string): boolean {
    return this.names.includes(name);
  }
  // Copies keep the array exactly as long as it needs to be (push would reserve 16 slots).
  add(name: string): void {
    if (!this.names.includes(name)) this.names = this.names.concat(name);
  }
  delete(name: string): boolean {
    if (!this.names.includes(name)) return false;
    this.names = this.names.filter((n) => n !== name);
    return true;
  }
  clear(): void {
    this.names = [];
  }
  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const name of [...this.names]) fn.call(thisArg, name, name, this);
  }
  /** Iterates a snapshot: the list may change while a caller walks it. */
  values(): SetIterator<string> {
    return [...this.names].values();
  }
  keys(): SetIterator<string> {
    return this.values();
  }
  entries(): SetIterator<[string, string]> {
    return this.names.map((name): [string, string] => [name, name]).values();
  }
  [Symbol.iterator](): SetIterator<string> {
    return this.values();
  }
}
