// The DHCP decision side, built before any socket: the network plan, the leases
// (loaded from the database), the inventory's address book and the boot decision.
// The server (server.ts) answers with it; explain previews with it.
import type { BootPlan } from '../boot/decide.js';
import type { Config } from '../config.js';
import type { Db } from '../db.js';
import { localAddresses } from '../host.js';
import { AddressBook } from '../inventory/addressBook.js';
import type { Node, NodeStore } from '../inventory/store.js';
import type { Logger } from '../log.js';
import { native } from '../native.js';
import type { HandlerContext } from './handler.js';
import { LeaseStore } from './leaseStore.js';
import { buildNetwork, type Network } from './network.js';

export interface Dhcp {
  mode: 'proxy' | 'reservation' | 'pool';
  net: Network;
  leases: LeaseStore;
  ctx: HandlerContext;
}

export interface DhcpDeps {
  config: Config;
  db: Db;
  nodes: NodeStore;
  /** The boot decision for the machine behind `mac` (the boot plane's); `node` as the address book has it. */
  plan: (mac: string, node: Node | undefined) => BootPlan;
  log: Logger;
  /** Our IPv4 addresses; default: those of config.interface (tests pass their own). */
  addresses?: number[];
}

/** The DHCP decider for config.dhcp.mode; null when mode is off. */
export function createDhcp(deps: DhcpDeps): Dhcp | null {
  const { config, nodes } = deps;
  const mode = config.dhcp.mode;
  if (mode === 'off') return null;
  if (config.interface && !deps.addresses) {
    const link = native.interfaceAddresses(config.interface);
    if (!link) throw new Error(`dhcp: interface ${config.interface} does not exist`);
    // Not fatal: the switch port may come up after the daemon (a rack powering on).
    if (!link.running) {
      deps.log.warn(
        { interface: config.interface },
        'dhcp: interface has no carrier; clients are answered once its link is up',
      );
    }
  }
  const net = buildNetwork(config, deps.addresses ?? localAddresses(config.interface));
  if (net.serverIp === 0) {
    throw new Error('dhcp: no IPv4 address to hand out as server id and boot server; set `advertise` or `interface`');
  }
  const leases = new LeaseStore(deps.db);
  if (mode === 'pool') for (const s of net.subnets) if (s.range) leases.addRange(s.range[0], s.range[1], s.excluded);
  const book = new AddressBook(nodes);
  const ctx: HandlerContext = {
    mode,
    net,
    leases,
    nodeByMac: (mac) => book.nodeByMac(mac),
    plan: deps.plan,
    reservedByOther: (ip, nodeId) => book.reservedByOther(ip, nodeId),
    offerHoldMs: config.dhcp.offerSeconds * 1000,
    declineSeconds: config.dhcp.declineSeconds,
  };
  return { mode, net, leases, ctx };
}
