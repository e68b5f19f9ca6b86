/**
 * The key registry: which key owns which agent id. The first key that proves an id
 * owns it; a different key whose id collides (8 hex chars are 32 bits: grindable) is
 * refused from then on. In memory, bounded: past `max` ids the one seen longest ago is
 * forgotten (the store issue makes the registry durable).
 */
export interface RegisteredKey {
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

  /** Record that `pubkey` proved `agentId`; false when the id belongs to another key. */
  claim(agentId: string, pubkey: string, name: string, now: number): boolean {
    const known = this.byId.get(agentId);
    if (known !== undefined && known.pubkey !== pubkey) return false;
    this.byId.delete(agentId);
    this.byId.set(agentId, { pubkey, name, firstSeen: known?.firstSeen ?? now, lastSeen: now });
    if (this.byId.size > this.max) this.byId.delete(this.byId.keys().next().value!);
    return true;
  }
}
