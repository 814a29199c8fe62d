// This host's IPv4 addresses, and the one machines are told to reach us at. One
// rule for DHCP (siaddr, option 54) and for every URL the boot plane renders.
import { networkInterfaces } from 'node:os';
import type { Config } from './config.js';
import { inCidr, intToIp, ipToInt, parseCidr } from './ip.js';
import { native } from './native.js';

/** The host's interfaces as the site check sees them (tests pass their own). */
export interface HostView {
  /** IPv4 addresses of interface `name`, up or not; null when there is no such interface. */
  addressesOf(name: string): number[] | null;
  /** Every non-loopback interface that has an IPv4 address. */
  interfaces(): { name: string; addresses: number[] }[];
}

export const thisHost: HostView = {
  addressesOf: (name) => native.interfaceAddresses(name)?.addresses ?? null,
  interfaces: () =>
    Object.entries(networkInterfaces())
      .map(([name, addrs]) => ({
        name,
        addresses: (addrs ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => ipToInt(a.address)),
      }))
      .filter((i) => i.addresses.length > 0),
};

/**
 * IPv4 addresses of `iface` whether or not its link is up (a provisioning port may
 * come up after the daemon), or, without a name, of every non-internal interface.
 */
export function hostAddresses(host: HostView, iface: string | undefined): number[] {
  return iface ? (host.addressesOf(iface) ?? []) : host.interfaces().flatMap((i) => i.addresses);
}

/** hostAddresses on this host. */
export function localAddresses(iface: string | undefined): number[] {
  return hostAddresses(thisHost, iface);
}

/** Our address on the directly served link: the first of `addrs` inside a configured subnet. */
function linkAddress(config: Config, addrs: number[]): number | null {
  for (const s of config.dhcp.subnets) {
    const net = parseCidr(s.cidr);
    const mine = addrs.find((a) => inCidr(a, net));
    if (mine !== undefined) return mine;
  }
  return null;
}

/** config.advertise, else our address on the served link, else our first address; null without any. */
export function advertisedAddress(config: Config, addrs: number[]): number | null {
  if (config.advertise) return ipToInt(config.advertise);
  return linkAddress(config, addrs) ?? addrs[0] ?? null;
}

/** The advertised address as nodes see it in URLs (loopback when the host has none). */
export function advertisedHost(config: Config, addrs = localAddresses(config.interface)): string {
  const ip = advertisedAddress(config, addrs);
  return ip === null ? '127.0.0.1' : intToIp(ip);
}
