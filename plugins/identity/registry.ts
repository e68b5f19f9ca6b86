/**
 * The key registry: which key owns which agent id. The first key that proves an id
 * owns it; a different key whose id collides (8 hex chars are 32 bits: grindable) is
 * refused from then on. In memory, bounded: past `max` ids the one seen longest ago is
 * forgotten (the store issue makes the registry durable).
 */
export interface RegisteredKey {
  [field: string]: string | number;
  /** Canonical SPKI PEM. */
  pubkey: string;
  name: string;
  firstSeen: number;
  lastSeen: number;
}

export class KeyRegistry {
  /** In least-recently-seen order: a claim moves its id to the end. */
  private readonly byId = new Map<string, RegisteredKey>();
  constructor(private readonly max: number) {}

  get size(): number {
    return this.byId.size;
  }

  owner(agentId: string): RegisteredKey | undefined {
    return this.byId.get(agentId);
  }

  /**
   * Record that `pubkey` proved `agentId`: the record now kept, and the id forgotten to make
   * room (if any); null when the id belongs to another key.
   */
  claim(agentId: string, pubkey: string, name: string, now: number): { record: RegisteredKey; forgotten: string | null } | null {
    const known = this.byId.get(agentId);
    if (known !== undefined && known.pubkey !== pubkey) return null;
    const record = { pubkey, name, firstSeen: known?.firstSeen ?? now, lastSeen: now };
    return { record, forgotten: this.keep(agentId, record) };
  }

  /** Put a record back (from the store, at start); returns the id forgotten to make room, if any. */
  keep(agentId: string, record: RegisteredKey): string | null {
    this.byId.delete(agentId);
    this.byId.set(agentId, record);
    if (this.byId.size <= this.max) return null;
    const oldest = this.byId.keys().next().value!;
    this.byId.delete(oldest);
    return oldest;
  }
}
