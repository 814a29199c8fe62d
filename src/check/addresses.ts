// Which addresses may be reserved for a node (Kea and dnsmasq semantics): only
// where rackjoin hands addresses out (reservation and pool mode), inside a
// configured subnet, and never the subnet's network or broadcast address, its
// router, or rackjoin's own address. Inventory reloads and the API ask the same rules.
import type { Config } from '../config.js';
import { hostAddresses, type HostView } from '../host.js';
import { inCidr, ipToInt, nonHostAddresses, parseCidr, type Cidr } from '../ip.js';

interface RuleSubnet {
  cidr: string;
  net: Cidr;
  routers: number[];
}

export class ReservationRules {
  private readonly subnets: RuleSubnet[];

  /** `ours`: every address of this host and the advertised one. */
  constructor(
    private readonly config: Config,
    private readonly ours: ReadonlySet<number>,
  ) {
    this.subnets = config.dhcp.subnets.flatMap((s) => {
      try {
        return [{ cidr: s.cidr, net: parseCidr(s.cidr), routers: s.router ? [ipToInt(s.router)] : [] }];
      } catch {
        return []; // a broken cidr is the config check's error
      }
    });
  }

  /** Why `ip` cannot be a node's reserved address, or null when it can. */
  problem(ip: string): string | null {
    const mode = this.config.dhcp.mode;
    if (mode !== 'reservation' && mode !== 'pool') return null; // addresses are somebody else's to give
    const n = ipToInt(ip);
    const subnet = this.subnets.find((s) => inCidr(n, s.net));
    if (!subnet) {
      const known = this.subnets.map((s) => s.cidr).join(', ') || 'none configured';
      return `${ip} is in no configured subnet (dhcp.subnets: ${known}), so DHCP could never give it`;
    }
    const { network, broadcast } = nonHostAddresses(subnet.net);
    if (n === network) return `${ip} is the network address of ${subnet.cidr}`;
    if (n === broadcast) return `${ip} is the broadcast address of ${subnet.cidr}`;
    if (subnet.routers.includes(n)) return `${ip} is the router of ${subnet.cidr}`;
    if (this.ours.has(n)) return `${ip} is rackjoin's own address`;
    return null;
  }
}

/** The rules for this config on `host`: every address of the host, and `advertise`, is ours. */
export function reservationRules(config: Config, host: HostView): ReservationRules {
  const addresses = hostAddresses(host, undefined);
  return new ReservationRules(
    config,
    new Set([...addresses, ...(config.advertise ? [ipToInt(config.advertise)] : [])]),
  );
}
