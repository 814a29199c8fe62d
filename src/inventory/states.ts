// The node states (docs/lifecycle.md) and the one rule
// every part asks about them: is this node being installed right now?
// The DHCP boot decision, the loader configs, the installer files and the
// kubeadm join token all follow installsNow(), so none of them can disagree.

export const NODE_STATES = [
  'discovered',
  'registered',
  'pxe',
  'booting',
  'installing',
  'installed',
  'joining',
  'joined',
  'failed',
] as const;
export type NodeState = (typeof NODE_STATES)[number];

/** The states of a node on its way to an installed disk. */
const PROVISIONING_STATES: ReadonlySet<NodeState> = new Set(['registered', 'pxe', 'booting', 'installing']);

/** What installsNow reads of a node. */
export interface NodeBootFacts {
  state: NodeState;
  /** Armed for network install: on at creation and at reimage, off once installed. */
  netboot: boolean;
  profile: string | null;
  source: 'file' | 'api' | 'discovered';
}

/**
 * True while the node is to be installed: it has a profile, an operator put it in
 * the inventory, netboot is armed, and it is provisioning. A failed node is not:
 * it is held (its disk boots) until `rackjoin reimage` arms it again, so a reboot
 * loop after an installer error cannot look like progress.
 */
export function installsNow(node: NodeBootFacts): boolean {
  return node.netboot && node.profile !== null && node.source !== 'discovered' && PROVISIONING_STATES.has(node.state);
}
