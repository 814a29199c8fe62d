// The config's meaning, beyond its schema: does the interface exist, are the
// subnets networks and their ranges inside them and in order, do subnets overlap,
// is `advertise` one of our addresses, is the kubernetes: section complete. The
// same checks run in `rackjoin check` and before `serve` opens the database.
import { existsSync } from 'node:fs';
import type { Config, Locate } from '../config.js';
import type { HostView } from '../host.js';
import { inCidr, intToIp, ipToInt, nonHostAddresses, parseCidr, type Cidr } from '../ip.js';
import { didYouMean } from '../suggest.js';
import { error, warning, type Finding } from '../findings.js';

export interface ConfigCheck {
  findings: Finding[];
  /** The interface DHCP serves: `interface:`, or the one candidate of a first run; null with DHCP off. */
  servedInterface: string | null;
  /** The config with only the subnets that parse, so the inventory can still be checked against it. */
  usable: Config;
}

export function checkConfig(config: Config, locate: Locate, host: HostView): ConfigCheck {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  checkTokens(config, locate, add);
  const subnets = checkSubnets(config, locate, add);
  const nets = subnets.map((s) => s.net);
  const servedInterface = config.dhcp.mode === 'off' ? null : checkInterface(config, locate, host, nets, add);
  checkAdvertise(config, locate, host, add);
  checkKubernetes(config, locate, add);
  const usable = { ...config, dhcp: { ...config.dhcp, subnets: subnets.map((s) => s.subnet) } };
  return { findings, servedInterface, usable };
}

type Add = (f: Finding) => void;

function checkTokens(config: Config, locate: Locate, add: Add): void {
  const seen = new Set<string>();
  config.api.tokens.forEach((t, i) => {
    if (seen.has(t.name))
      add(error(locate(['api', 'tokens', i, 'name']), `api.tokens: name "${t.name}" appears twice`));
    seen.add(t.name);
  });
}

/** An IPv4 address, or null when `s` is not one (octets over 255, missing parts). */
function address(s: string): number | null {
  try {
    return ipToInt(s);
  } catch {
    return null;
  }
}

type SubnetConfig = Config['dhcp']['subnets'][number];

/** The configured subnets whose cidr parses, for the checks that follow. */
function checkSubnets(config: Config, locate: Locate, add: Add): { net: Cidr; subnet: SubnetConfig }[] {
  const { mode, subnets } = config.dhcp;
  const nets: { net: Cidr; at: string; subnet: SubnetConfig }[] = [];
  subnets.forEach((s, i) => {
    const key = `dhcp.subnets[${i}]`;
    const at = locate(['dhcp', 'subnets', i, 'cidr']);
    const [addr, len] = s.cidr.split('/') as [string, string];
    const base = address(addr);
    const prefix = Number(len);
    if (base === null || prefix > 32) {
      add(error(at, `${key}.cidr: ${s.cidr} is not an IPv4 network (octets 0-255, prefix 0-32)`));
      return;
    }
    const net = parseCidr(s.cidr);
    if (net.network !== base) {
      const fix = `${intToIp(net.network)}/${prefix}`;
      add(error(at, `${key}.cidr: ${s.cidr} has host bits set (did you mean ${fix}?)`));
      return;
    }
    for (const other of nets) {
      if (inCidr(net.network, other.net) || inCidr(other.net.network, net)) {
        const them = `${other.subnet.cidr} (${other.at})`;
        add(error(at, `${key}.cidr: ${s.cidr} overlaps ${them}: a client would match both`));
      }
    }
    nets.push({ net, at, subnet: s });
    const router = s.router === undefined ? null : ipToInt(s.router);
    if (router !== null && !inCidr(router, net))
      add(warning(locate(['dhcp', 'subnets', i, 'router']), `${key}.router: ${s.router} is not inside ${s.cidr}`));
    if (s.range && !checkRange(s.range, net, router, locate(['dhcp', 'subnets', i, 'range']), `${key}.range`, add))
      nets[nets.length - 1]!.subnet = { ...s, range: undefined };
  });
  if (mode === 'pool' && !subnets.some((s) => s.range))
    add(error(locate(['dhcp', 'mode']), 'dhcp.subnets: pool mode needs at least one subnet with a range'));
  return nets;
}

/** False when the range is unusable (the allocator could not use it either). */
function checkRange(range: string, net: Cidr, router: number | null, at: string, key: string, add: Add): boolean {
  const [from, to] = range.split('-').map(address) as [number | null, number | null];
  const refuse = (message: string) => (add(error(at, `${key}: ${range} ${message}`)), false);
  if (from === null || to === null) return refuse('is not a range of IPv4 addresses');
  if (from > to) return refuse(`is reversed (did you mean ${range.split('-').reverse().join('-')}?)`);
  if (!inCidr(from, net) || !inCidr(to, net)) return refuse(`is not inside ${intToIp(net.network)}/${net.prefix}`);
  // The allocator skips these (src/dhcp); a range that names them is still worth a word.
  const { network, broadcast } = nonHostAddresses(net);
  const never = [
    [network, 'the network address'],
    [broadcast, 'the broadcast address'],
    [router, 'the router'],
  ] as [number | null, string][];
  for (const [ip, what] of never) {
    if (ip !== null && ip >= from && ip <= to)
      add(warning(at, `${key}: ${range} includes ${what} ${intToIp(ip)}, never leased`));
  }
  return true;
}

/**
 * Which NIC DHCP serves. Without `interface:` a first run must not answer PXE on a
 * production LAN by accident: it goes ahead only when exactly one interface is a
 * candidate (the one inside a configured subnet, else the only one with an address).
 */
function checkInterface(config: Config, locate: Locate, host: HostView, subnets: Cidr[], add: Add): string | null {
  const all = host.interfaces();
  const names = all.map((i) => `${i.name} (${i.addresses.map(intToIp).join(', ')})`).join(', ') || 'none';
  if (config.interface) {
    const addrs = host.addressesOf(config.interface);
    const at = locate(['interface']);
    if (addrs === null) {
      const hint = didYouMean(
        config.interface,
        all.map((i) => i.name),
      );
      add(
        error(at, `interface: no interface "${config.interface}" on this host${hint}; interfaces with IPv4: ${names}`),
      );
    } else if (addrs.length === 0) {
      add(error(at, `interface: ${config.interface} has no IPv4 address; DHCP needs one to answer from`));
    }
    return config.interface;
  }
  const inSubnet = all.filter((i) => i.addresses.some((a) => subnets.some((n) => inCidr(a, n))));
  const candidates = inSubnet.length > 0 ? inSubnet : all;
  if (candidates.length === 1) return candidates[0]!.name;
  if (candidates.length === 0) {
    // With `advertise` DHCP answers as that address (behind NAT); without it, it has no address to name as its own.
    if (config.advertise) {
      add(warning(locate(['dhcp', 'mode']), `dhcp: this host has no interface with an IPv4 address to serve`));
    } else {
      const what = `dhcp (mode ${config.dhcp.mode}): this host has no interface with an IPv4 address to answer from`;
      add(error(locate(['dhcp', 'mode']), `${what}; give it one, set \`advertise\`, or set dhcp.mode: off`));
    }
    return null;
  }
  add(
    error(
      locate(['dhcp', 'mode']),
      `dhcp (mode ${config.dhcp.mode}): ${candidates.length} interfaces could be the provisioning network: ` +
        `${names}. Set \`interface:\` to the one DHCP should answer on (or dhcp.mode: off)`,
    ),
  );
  return null;
}

function checkAdvertise(config: Config, locate: Locate, host: HostView, add: Add): void {
  if (!config.advertise) return;
  const ip = ipToInt(config.advertise);
  const ours = host.interfaces().some((i) => i.addresses.includes(ip)) || config.advertise.startsWith('127.');
  if (ours) return;
  const message = `advertise: ${config.advertise} is not an address of this host`;
  // DHCP names it as the server (option 54, siaddr): clients would ask somebody else.
  if (config.dhcp.mode !== 'off')
    add(error(locate(['advertise']), `${message}; DHCP clients would talk to another host`));
  else add(warning(locate(['advertise']), `${message} (fine behind NAT or a load balancer)`));
}

function checkKubernetes(config: Config, locate: Locate, add: Add): void {
  const k = config.kubernetes;
  if (k.kubeconfig && !existsSync(k.kubeconfig))
    add(error(locate(['kubernetes', 'kubeconfig']), `kubernetes.kubeconfig: ${k.kubeconfig} does not exist`));
  if (k.joinToken && k.kubeconfig)
    add(
      warning(
        locate(['kubernetes', 'joinToken']),
        'kubernetes: both joinToken and kubeconfig are set; per-node tokens are minted and joinToken is not used',
      ),
    );
  if (k.apiServerEndpoint && k.caCertHashes.length === 0)
    add(
      warning(
        locate(['kubernetes', 'apiServerEndpoint']),
        'kubernetes.caCertHashes: empty, so kubeadm join skips CA pinning (--discovery-token-unsafe-skip-ca-verification)',
      ),
    );
  if (k.apiServerEndpoint && !k.joinToken && !k.kubeconfig)
    add(
      warning(
        locate(['kubernetes']),
        'kubernetes: apiServerEndpoint without joinToken or kubeconfig: installed nodes cannot join',
      ),
    );
}
