// Does every installing node get a name server with its lease? Installers resolve
// the mirrors they install from, and Debian's stops at "Name server addresses:"
// before it reads any preseed when DHCP gave it none, even at priority=critical.
// Only a lease rackjoin hands out is ours to check (reservation and pool mode): in
// proxy and off mode another DHCP server sends the address and the name servers.
// Like Kea, and unlike dnsmasq (which names itself), rackjoin sends option 6 only
// when the subnet lists `dns:`.
import type { Config } from '../config.js';
import { inCidr, ipToInt, parseCidr, type Cidr } from '../ip.js';
import type { NodeSpec, Profile } from '../inventory/schema.js';
import { warning, type Finding, type Located } from '../findings.js';

type Installing = Exclude<Profile['installer'], 'none'>;
type InstallingProfile = Profile & { installer: Installing };

/** What a node of each installer meets without a name server. */
const WITHOUT_DNS: Record<Installing, string> = {
  preseed: `Debian's installer stops at "Name server addresses:" before it reads its preseed`,
  kickstart: 'Anaconda cannot resolve the repository and package mirrors it installs from',
  'cloud-init': 'the installer cannot resolve the package mirrors it installs from',
};

/**
 * The kernel command line may name the name servers itself: debian-installer's
 * netcfg/get_nameservers and dracut's nameserver= (Anaconda) then answer what DHCP did not.
 */
const CMDLINE_NAME_SERVER = /(?:^|\s)(?:netcfg\/get_nameservers|nameserver)=\S/;

/** An installing profile that leaves its name servers to DHCP. */
const needsDhcpDns = (p: Profile): p is InstallingProfile =>
  p.installer !== 'none' && !CMDLINE_NAME_SERVER.test(p.cmdline);

interface Unnamed {
  cidr: string;
  net: Cidr;
  pool: boolean;
}

/** The subnets whose leases carry no name server; none where rackjoin leases nothing. */
function subnetsWithoutDns(dhcp: Config['dhcp']): Unnamed[] {
  if (dhcp.mode !== 'reservation' && dhcp.mode !== 'pool') return [];
  return dhcp.subnets
    .filter((s) => !s.dns?.length)
    .flatMap((s) => {
      try {
        return [{ cidr: s.cidr, net: parseCidr(s.cidr), pool: dhcp.mode === 'pool' && s.range !== undefined }];
      } catch {
        return []; // a broken cidr is the config check's error
      }
    });
}

const FIX = 'add `dns:` (a list of name servers) under that subnet in dhcp.subnets';

/**
 * One warning per node whose reserved address lies in a subnet without `dns:`, and
 * (pool mode) one per profile whose nodes may lease from a range without it: a node
 * of it has no reserved address, or no node in these files uses it yet (API and
 * enrolled nodes lease from the pool too).
 */
export function checkNameServers(
  profiles: Located<Profile>[],
  nodes: Located<NodeSpec>[],
  dhcp: Config['dhcp'],
): Finding[] {
  const unnamed = subnetsWithoutDns(dhcp);
  if (unnamed.length === 0) return [];
  const installing = new Map<string, InstallingProfile>();
  for (const { value: p } of profiles) if (needsDhcpDns(p)) installing.set(p.name, p);
  const out: Finding[] = [];
  for (const { value: n, where } of nodes) {
    const p = n.profile ? installing.get(n.profile) : undefined;
    if (!p || !n.ip) continue;
    const ip = ipToInt(n.ip);
    const subnet = unnamed.find((s) => inCidr(ip, s.net));
    if (!subnet) continue;
    const message =
      `node ${n.name}: its reserved ip ${n.ip} is in subnet ${subnet.cidr}, which hands out no DNS server, ` +
      `and its profile ${p.name} installs with ${p.installer}: ${WITHOUT_DNS[p.installer]}; ${FIX}`;
    out.push(warning(where, message, { node: n.name }));
  }
  const pools = unnamed.filter((s) => s.pool);
  if (pools.length === 0) return out;
  const cidrs = pools.map((s) => s.cidr).join(', ');
  for (const { value: p, where } of profiles) {
    const q = installing.get(p.name);
    if (!q) continue;
    const users = nodes.filter((n) => n.value.profile === p.name);
    if (users.length > 0 && users.every((n) => n.value.ip)) continue;
    const message =
      `profile ${p.name}: its nodes without a reserved ip lease from the range of ${pools.length === 1 ? 'subnet' : 'subnets'} ` +
      `${cidrs}, which ${pools.length === 1 ? 'hands' : 'hand'} out no DNS server, and it installs with ${q.installer}: ` +
      `${WITHOUT_DNS[q.installer]}; ${FIX}`;
    out.push(warning(where, message, { profile: p.name }));
  }
  return out;
}
