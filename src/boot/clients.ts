// clientDirectory: which node a TFTP or HTTP client is, so that every file served
// lands on the right timeline. Firmware does not say who it is when it fetches a
// kernel; its IP does. The directory learns IP → node from what the lifecycle
// observes (a DHCP exchange's leased address, a by-MAC boot config, an installer
// fetch), then falls back to the DHCP lease on the address and to reserved IPs.
import type { Node, NodeStore } from '../inventory/store.js';
import type { Lifecycle, Observed } from '../lifecycle/lifecycle.js';

/** An address stays attributed this long after we last saw it tied to a node. */
const REMEMBER_MS = 60 * 60 * 1000;
const MAX_REMEMBERED = 10_000;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The MAC holding a DHCP lease on `ip`, if any. */
export type LeaseHolder = (ip: string) => string | undefined;

export class ClientDirectory {
  private readonly recent = new Map<string, { nodeId: number; at: number }>();

  constructor(
    private readonly nodes: Pick<NodeStore, 'byId' | 'findByMac' | 'findByIp'>,
    private readonly leaseHolder: LeaseHolder,
    private readonly now: () => number = Date.now,
  ) {}

  /** Learn addresses from every observation the lifecycle records. */
  follow(lifecycle: Lifecycle): void {
    lifecycle.on('observed', ({ node, obs }: Observed) => {
      const client = obs.kind === 'dhcp' ? obs.exchange.client : obs.kind === 'node-ready' ? '' : obs.client;
      this.remember(client, node.id);
    });
  }

  remember(ip: string, nodeId: number): void {
    if (!IPV4.test(ip) || ip === '0.0.0.0') return;
    this.recent.delete(ip);
    this.recent.set(ip, { nodeId, at: this.now() });
    // Map iteration is insertion order: the first entry is the oldest.
    if (this.recent.size > MAX_REMEMBERED) this.recent.delete(this.recent.keys().next().value!);
  }

  nodeFor(ip: string): Node | undefined {
    const seen = this.recent.get(ip);
    if (seen && this.now() - seen.at < REMEMBER_MS) {
      const node = this.nodes.byId(seen.nodeId);
      if (node) return node;
    }
    const leased = this.leaseHolder(ip);
    if (leased) return this.nodes.findByMac(leased);
    return this.nodes.findByIp(ip);
  }
}
