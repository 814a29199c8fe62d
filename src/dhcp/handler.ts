// What the mode handlers (proxy.ts, authoritative.ts) read and decide. They are
// pure: they read the leases and the boot decision, and return the reply, the
// lease change and what to record. The server applies the change, sends, and
// reports the exchange; explain runs the same handlers on a made-up request and
// applies nothing (modes.ts).
import type { BootPlan } from '../boot/decide.js';
import type { Node } from '../inventory/store.js';
import type { LeaseChange, LeaseView } from './leaseStore.js';
import type { ProbeMethod } from './conflict.js';
import type { Network, Subnet } from './network.js';
import type { Boot, Reply } from './reply.js';

export interface HandlerContext {
  mode: 'proxy' | 'reservation' | 'pool';
  net: Network;
  leases: LeaseView;
  /** The node (inventory or discovered) behind a MAC. */
  nodeByMac(mac: string): Node | undefined;
  /** The boot decision for the machine behind `mac` (`node` as nodeByMac gave it). */
  plan(mac: string, node: Node | undefined): BootPlan;
  /** True when an inventory node other than `nodeId` has `ip` reserved. */
  reservedByOther(ip: number, nodeId: number | null): boolean;
  offerHoldMs: number;
  declineSeconds: number;
}

export interface Outcome {
  reply?: Reply;
  /** Why nothing was sent (a counter name); absent when a reply goes out or none is due (RELEASE). */
  drop?: string;
  /** The node whose timeline records the exchange (an inventory or a discovered one). */
  node?: Node;
  /** An unknown MAC that tried to network-boot: record it as discovered. */
  discovered?: boolean;
  /** The boot instructions sent, if any. */
  boot?: Boot;
  /** Human-readable why, for the timeline. */
  reason?: string;
  /** The lease change this exchange makes, applied by the server before the reply leaves. */
  lease?: LeaseChange;
  /** The address this request was about to be offered answered the conflict check (server.ts). */
  conflict?: Conflict;
  /** The subnet the request was answered in (lease modes). */
  subnet?: Subnet;
}

export interface Conflict {
  address: number;
  method: ProbeMethod;
  /** The MAC that answered (ARP); null for an echo reply. */
  mac: string | null;
  quarantineSeconds: number;
}

/** An operator's node, as opposed to none or a discovered machine: only those get addresses reserved. */
export function enrolled(node: Node | undefined): Node | undefined {
  return node && node.source !== 'discovered' ? node : undefined;
}
