// The inventory as the DHCP fast path needs it: which MACs are nodes, and which
// addresses are reserved, in memory. Most clients of a pool are not nodes, and a
// query per packet (two per DORA for each question) cost more than the rest of
// the handling. Triggers (leaseStore.ts, dhcp-002) bump a generation number on
// every inventory change; it is read once per event-loop turn, and the sets are
// rebuilt when it moved. Whole Node records still come from NodeStore.
import type { Db } from '../db.js';
import type { Node, NodeStore } from '../inventory/store.js';
import { ipToInt } from '../ip.js';

export class InventoryView {
  private gen = -1;
  private checked = false;
  private macs = new Set<string>();
  private ipOwner = new Map<number, number>();
  private readonly readGen;
  private readonly readMacs;
  private readonly readIps;

  constructor(
    db: Db,
    private readonly nodes: Pick<NodeStore, 'findByMac'>,
  ) {
    this.readGen = db.prepare('SELECT n FROM dhcp_inventory_generation').pluck();
    this.readMacs = db.prepare('SELECT mac FROM node_macs').pluck();
    this.readIps = db.prepare('SELECT id, ip FROM nodes WHERE ip IS NOT NULL');
  }

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
    setImmediate(() => (this.checked = false));
    const gen = this.readGen.get() as number;
    if (gen === this.gen) return;
    this.gen = gen;
    this.macs = new Set(this.readMacs.all() as string[]);
    this.ipOwner = new Map((this.readIps.all() as { id: number; ip: string }[]).map((r) => [ipToInt(r.ip), r.id]));
  }
}
