// What the mode handlers (proxy.ts, reservation.ts) get and give back. They
// decide; the server sends, counts, writes events and commits leases.
import type { Node } from '../inventory/store.js';
import type { Profile } from '../inventory/schema.js';
import { decideBoot, type BootDecision, type BootSettings } from './bootDecision.js';
import type { LeaseStore } from './leaseStore.js';
import type { Network } from './network.js';
import type { Boot, Reply, Request } from './reply.js';

export interface HandlerContext {
  mode: 'proxy' | 'reservation' | 'pool';
  net: Network;
  leases: LeaseStore;
  nodeByMac(mac: string): Node | undefined;
  profile(name: string): Profile | undefined;
  /** True when an inventory node other than `nodeId` has `ip` reserved. */
  reservedByOther(ip: number, nodeId: number | null): boolean;
  boot: BootSettings;
  offerHoldMs: number;
  declineSeconds: number;
}

export interface Outcome {
  reply?: Reply;
  /** Why nothing was sent (a counter name); absent when a reply goes out or none is due (RELEASE). */
  drop?: string;
  /** The inventory node, for its timeline. */
  node?: Node;
  /** An unknown MAC that tried to network-boot: record it as discovered. */
  discovered?: boolean;
  /** The boot instructions sent, if any. */
  boot?: Boot;
  /** Human-readable why, for the timeline. */
  reason?: string;
}

/** Boot decision for a request's node (none for clients that do not netboot). */
export function bootFor(ctx: HandlerContext, req: Request, node: Node | undefined): BootDecision {
  const profile = node?.profile ? ctx.profile(node.profile) : undefined;
  return decideBoot(req.fp, node, profile, ctx.boot);
}
