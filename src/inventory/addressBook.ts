// The inventory as the DHCP fast path reads it: which MACs are nodes, and which
// addresses are reserved, in memory. Most clients of a pool are not nodes, and a
// query per packet (two per DORA for each question) cost more than the rest of
// the handling. The store's generation counter moves on every inventory change;
// it is read once per event-loop turn, and the sets are rebuilt when it moved.
// Whole Node records still come from the store.
import { ipToInt } from '../ip.js';
import type { Node, NodeStore } from './store.js';

export class AddressBook {
  private gen = -1;
  private checked = false;
  private macs = new Set<string>();
  private ipOwner = new Map<number, number>();
  /** Ask the store again next turn. */
  private readonly forget = () => (this.checked = false);

  constructor(private readonly nodes: Pick<NodeStore, 'findByMac' | 'generation' | 'allMacs' | 'reservations'>) {}

  nodeByMac(mac: string): Node | undefined {
    this.fresh();
    return this.macs.has(mac) ? this.nodes.findByMac(mac) : undefined;
  }

  /** True when a node other than `nodeId` has `ip` reserved. */
  reservedByOther(ip: number, nodeId: number | null): boolean {
    this.fresh();
    const owner = this.ipOwner.get(ip);
    return owner !== undefined && owner !== nodeId;
  }

  private fresh(): void {
    if (this.checked) return;
    this.checked = true;
    setImmediate(this.forget);
    const gen = this.nodes.generation();
    if (gen === this.gen) return;
    this.gen = gen;
    this.macs = new Set(this.nodes.allMacs());
    this.ipOwner = new Map(this.nodes.reservations().map((r) => [ipToInt(r.ip), r.id]));
  }
}
