// The conflict check ahead of demand. A pool address nobody ever held is probed
// before its first OFFER (conflict.ts); asked only when a DISCOVER wants it, every
// new client waits the whole probe timeout (100 ms by default) for its OFFER, and a
// boot storm of new machines waits that long each. So whenever the pool hands out
// an address, the next ones it will hand out are probed at once, in parallel: by
// the time their DISCOVERs come they are settled, and the OFFER leaves at once
// (docs/configuration.md, "Pool address safety").
// An address found in use here is left unsettled: its own OFFER probes it again
// and quarantines it with the client on the timeline (server.ts), as before.
import type { ConflictProbe, Verdict } from './conflict.js';
import type { LeaseStore } from './leaseStore.js';
import type { Subnet } from './network.js';

/**
 * Addresses probed ahead of the pool: at 100 ms a probe, enough for ~10,000 new
 * clients/s.
 */
export const PROBE_AHEAD = 1024;
/**
 * Probes sent per address handed out, at most. Each probe is a send whose kernel
 * work runs on the event loop; 500 at once (what one refill of the window took at
 * 5,000 new clients/s) held every other reply back for milliseconds. A storm still
 * has the whole window in flight after its first PROBE_AHEAD / PROBE_BATCH OFFERs.
 */
export const PROBE_BATCH = 16;
/** After a probe the kernel refused (no route, a full neighbour table), pause this long. */
const REFUSED_PAUSE_MS = 1000;

export class ProbeAhead {
  private pausedUntil = 0;
  private readonly due = new Set<Subnet>();

  constructor(
    private readonly probe: ConflictProbe,
    private readonly leases: Pick<LeaseStore, 'unchecked' | 'markChecked'>,
    private readonly window = PROBE_AHEAD,
  ) {}

  /**
   * `subnet`'s pool just handed out an address: top up its probes once this turn's
   * replies have left (each probe is a send; the OFFER does not wait behind them).
   */
  soon(subnet: Subnet): void {
    if (this.due.size === 0) setImmediate(this.topUpDue);
    this.due.add(subnet);
  }

  private readonly topUpDue = () => {
    for (const subnet of this.due) this.topUp(subnet);
    this.due.clear();
  };

  /** Keep the next unchecked addresses of `subnet`'s range being probed. */
  private topUp(subnet: Subnet): void {
    const room = Math.min(PROBE_BATCH, this.window - this.probe.inFlight);
    if (!subnet.range || room <= 0 || Date.now() < this.pausedUntil) return;
    const [lo, hi] = subnet.range;
    // Excluded addresses (network, broadcast, routers, ours) never enter the pool's stack.
    const busy = (ip: number) => this.probe.probing(ip);
    // ARP when the pool is on the link we serve, as a DISCOVER from it would be checked.
    const direct = subnet.localIp !== null;
    for (const ip of this.leases.unchecked(lo, hi, room, this.window, busy)) {
      this.probe.check(ip, direct, this.checked);
      if (Date.now() < this.pausedUntil) return;
    }
  }

  private readonly checked = (v: Verdict, ip: number) => {
    if (v.inUse) return;
    if (v.checked) this.leases.markChecked(ip);
    else this.pausedUntil = Date.now() + REFUSED_PAUSE_MS;
  };
}
