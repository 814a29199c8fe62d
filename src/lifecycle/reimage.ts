// The two outside steps of a reimage (Lifecycle.reimage runs them around the
// state change): drain the node's Kubernetes Node first, power-cycle it last.
// Each writes its own events (kube.drain, power.cycle) to the node's timeline.
import type { EventLog } from '../events.js';
import type { Bmc } from '../inventory/schema.js';
import type { Node } from '../inventory/store.js';
import { describeKubeError, type DrainResult, type KubeOps } from '../kube/client.js';
import type { PowerResult } from '../power/bmc.js';

export interface ReimageOptions {
  powerCycle?: boolean;
  /** Go on when the drain does not finish (PDB refusals, API errors) instead of refusing. */
  force?: boolean;
  /** Operator name, for the timeline. */
  by?: string;
}

export type KubernetesOutcome =
  | { managed: false; message: string }
  | {
      managed: true;
      drained: boolean;
      found: boolean;
      evicted: string[];
      remaining: { pod: string; reason: string }[];
      message: string;
    };

export type PowerOutcome =
  | { requested: false; message: string }
  | { requested: true; ok: true; method: string; action: string }
  | { requested: true; ok: false; error: string };

export type ReimageErrorCode = 'conflict' | 'invalid';

export class ReimageError extends Error {
  constructor(
    readonly code: ReimageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Why `node` cannot be reimaged as asked; null when it can. */
export function reimageRefusal(node: Node, opts: ReimageOptions): ReimageError | null {
  if (node.source === 'discovered') {
    return new ReimageError(
      'conflict',
      `${node.name} is a discovered machine: give it a profile (PATCH) to enrol it; there is nothing to reimage`,
    );
  }
  if (!node.profile) return new ReimageError('conflict', `node ${node.name} has no profile: nothing to install`);
  if (opts.powerCycle && !node.bmc) {
    return new ReimageError(
      'invalid',
      `node ${node.name} has no bmc: power-cycle it by hand, or add bmc: to its inventory entry`,
    );
  }
  return null;
}

export interface DrainDeps {
  kube: KubeOps | null;
  events: EventLog;
  timeoutMs: number;
}

/** Cordon and drain the node's Node; throws ReimageError (nothing changed) unless it drained or `force`. */
export async function drainForReimage(deps: DrainDeps, node: Node, force: boolean): Promise<KubernetesOutcome> {
  if (!deps.kube) {
    return {
      managed: false,
      message:
        `no kubernetes.kubeconfig configured: drain and delete the Node yourself ` +
        `(kubectl drain ${node.name} --ignore-daemonsets; kubectl delete node ${node.name})`,
    };
  }
  let result: DrainResult;
  try {
    result = await deps.kube.drainNode(node.name, { timeoutMs: deps.timeoutMs });
  } catch (err) {
    const why = describeKubeError(err);
    deps.events.record(node.id, 'kube.drain', 'kubernetes', { ok: false, error: why, force });
    if (!force) {
      const msg = `could not drain Node ${node.name}: ${why}; nothing changed (use force to reimage anyway)`;
      throw new ReimageError('conflict', msg);
    }
    const message = `drain failed (${why}); reimaged anyway (force)`;
    return { managed: true, drained: false, found: false, evicted: [], remaining: [], message };
  }
  const { found, evicted, remaining } = result;
  const drained = remaining.length === 0;
  deps.events.record(node.id, 'kube.drain', 'kubernetes', { ok: drained, found, evicted, remaining, force });
  if (!drained && !force) {
    const pods = remaining.map((r) => `${r.pod} (${r.reason})`).join(', ');
    throw new ReimageError(
      'conflict',
      `drain of Node ${node.name} did not finish in ${Math.round(deps.timeoutMs / 1000)} s; still running: ` +
        `${pods}. The node stays cordoned; nothing else changed (use force to reimage anyway)`,
    );
  }
  const deleted = 'the Node object is deleted when the install starts';
  const message = !found
    ? `no Node ${node.name} in the cluster: nothing to drain`
    : drained
      ? `cordoned and drained (${evicted.length} pods evicted); ${deleted}`
      : `cordoned; ${remaining.length} pods not evicted, reimaged anyway (force); ${deleted}`;
  return { managed: true, drained, found, evicted, remaining, message };
}

export interface PowerDeps {
  powerCycle: ((bmc: Bmc) => Promise<PowerResult>) | undefined;
  events: EventLog;
}

/** Power-cycle through the BMC. Recorded before it is issued: the node's DHCP may arrive before the BMC answers. */
export async function powerCycleNode(deps: PowerDeps, node: Node, bmc: Bmc): Promise<PowerOutcome> {
  if (!deps.powerCycle) return { requested: true, ok: false, error: 'power control is not available in this daemon' };
  const at = { type: bmc.type, address: bmc.address };
  deps.events.record(node.id, 'power.cycle', 'bmc', { ...at, phase: 'requested' });
  try {
    const r = await deps.powerCycle(bmc);
    deps.events.record(node.id, 'power.cycle', 'bmc', { ...at, phase: 'done', action: r.action });
    return { requested: true, ok: true, method: r.method, action: r.action };
  } catch (err) {
    const error = (err as Error).message;
    deps.events.record(node.id, 'power.cycle', 'bmc', { ...at, phase: 'failed', error });
    return { requested: true, ok: false, error };
  }
}

/** What the response says about power when no cycle was asked for. */
export function powerNotRequested(node: Node): PowerOutcome {
  return {
    requested: false,
    message: node.bmc
      ? 'not power-cycled: reboot it (or ask for a power cycle) to network boot'
      : 'no bmc: reboot the machine by hand to network boot',
  };
}
