// Does every installing node get what its installer needs from its lease? Installers
// resolve the mirrors they install from, and Debian's stops before it reads any
// preseed, even at priority=critical, when DHCP gave it no name server ("Name server
// addresses:") or no router ("Continue without a default route?"). Only a lease
// rackjoin hands out is ours to check (reservation and pool mode): in proxy and off
// mode another DHCP server sends the address, name servers and router. Like Kea, and
// unlike dnsmasq (which names itself), rackjoin sends options 3 and 6 only when the
// subnet lists `router:` and `dns:`.
import type { Config } from '../config.js';
import { inCidr, ipToInt, parseCidr, type Cidr } from '../ip.js';
import type { NodeSpec, Profile } from '../inventory/schema.js';
import { warning, type Finding, type Located } from '../findings.js';

type Installing = Exclude<Profile['installer'], 'none'>;
type Subnet = Config['dhcp']['subnets'][number];

interface LeaseNeed {
  /** What the lease lacks, in the message: "no DNS server". */
  lacks: string;
  has: (s: Subnet) => boolean;
  /** What a node of each installer meets without it; installers absent here cope. */
  meets: Partial<Record<Installing, string>>;
  /** The kernel command line answers it itself (then DHCP need not). */
  cmdline: RegExp;
  fix: string;
}

const NEEDS: LeaseNeed[] = [
  {
    lacks: 'no DNS server',
    has: (s) => (s.dns?.length ?? 0) > 0,
    meets: {
      preseed: `Debian's installer stops at "Name server addresses:" before it reads its preseed`,
      kickstart: 'Anaconda cannot resolve the repository and package mirrors it installs from',
      'cloud-init': 'the installer cannot resolve the package mirrors it installs from',
    },
    // debian-installer's netcfg/get_nameservers and dracut's nameserver= (Anaconda).
    cmdline: /(?:^|\s)(?:netcfg\/get_nameservers|nameserver)=\S/,
    fix: 'add `dns:` (a list of name servers) under that subnet in dhcp.subnets',
  },
  {
    lacks: 'no router',
    has: (s) => s.router !== undefined,
    meets: {
      preseed: `Debian's installer stops at "Continue without a default route?" before it reads its preseed`,
    },
    cmdline: /(?:^|\s)netcfg\/no_default_route=true\b/,
    fix: 'add `router:` under that subnet in dhcp.subnets',
  },
];

interface Lacking {
  cidr: string;
  net: Cidr;
  pool: boolean;
}

/** The subnets whose leases lack it; none where rackjoin leases nothing. */
function subnetsLacking(dhcp: Config['dhcp'], need: LeaseNeed): Lacking[] {
  if (dhcp.mode !== 'reservation' && dhcp.mode !== 'pool') return [];
  return dhcp.subnets
    .filter((s) => !need.has(s))
    .flatMap((s) => {
      try {
        return [{ cidr: s.cidr, net: parseCidr(s.cidr), pool: dhcp.mode === 'pool' && s.range !== undefined }];
      } catch {
        return []; // a broken cidr is the config check's error
      }
    });
}

/**
 * For each need: one warning per node whose reserved address lies in a subnet that
 * lacks it, and (pool mode) one per profile whose nodes may lease from a range that
 * lacks it: a node of it has no reserved address, or no node in these files uses it
 * yet (API and enrolled nodes lease from the pool too).
 */
export function checkLeaseNeeds(
  profiles: Located<Profile>[],
  nodes: Located<NodeSpec>[],
  dhcp: Config['dhcp'],
): Finding[] {
  return NEEDS.flatMap((need) => checkNeed(need, profiles, nodes, dhcp));
}

function checkNeed(
  need: LeaseNeed,
  profiles: Located<Profile>[],
  nodes: Located<NodeSpec>[],
  dhcp: Config['dhcp'],
): Finding[] {
  const lacking = subnetsLacking(dhcp, need);
  if (lacking.length === 0) return [];
  // The profiles that need it from DHCP, with what their installer meets without it.
  const needy = new Map<string, { p: Profile; meets: string }>();
  for (const { value: p } of profiles) {
    const meets = p.installer === 'none' ? undefined : need.meets[p.installer];
    if (meets && !need.cmdline.test(p.cmdline)) needy.set(p.name, { p, meets });
  }
  const out: Finding[] = [];
  for (const { value: n, where } of nodes) {
    const found = n.profile ? needy.get(n.profile) : undefined;
    if (!found || !n.ip) continue;
    const ip = ipToInt(n.ip);
    const subnet = lacking.find((s) => inCidr(ip, s.net));
    if (!subnet) continue;
    const message =
      `node ${n.name}: its reserved ip ${n.ip} is in subnet ${subnet.cidr}, which hands out ${need.lacks}, ` +
      `and its profile ${found.p.name} installs with ${found.p.installer}: ${found.meets}; ${need.fix}`;
    out.push(warning(where, message, { node: n.name }));
  }
  const pools = lacking.filter((s) => s.pool);
  if (pools.length === 0) return out;
  const one = pools.length === 1;
  const cidrs = pools.map((s) => s.cidr).join(', ');
  for (const { value: p, where } of profiles) {
    const found = needy.get(p.name);
    if (!found) continue;
    const users = nodes.filter((n) => n.value.profile === p.name);
    if (users.length > 0 && users.every((n) => n.value.ip)) continue;
    const message =
      `profile ${p.name}: its nodes without a reserved ip lease from the range of ${one ? 'subnet' : 'subnets'} ` +
      `${cidrs}, which ${one ? 'hands' : 'hand'} out ${need.lacks}, and it installs with ${p.installer}: ` +
      `${found.meets}; ${need.fix}`;
    out.push(warning(where, message, { profile: p.name }));
  }
  return out;
}
