// The one place node states change. Services report what they saw (observe);
// the rules in machine.ts decide; this class writes the state, records the
// observation and the transition in the node's timeline in one transaction, and
// tells subscribers (SSE, metrics, Kubernetes hooks) after the commit.
// Timeouts and reimage are the other two ways a state changes.
import { EventEmitter } from 'node:events';
import type { Config } from '../config.js';
import type { Db } from '../db.js';
import type { EventLog } from '../events.js';
import type { Bmc, NodePatch, NodeState } from '../inventory/schema.js';
import type { Node, NodeStore } from '../inventory/store.js';
import type { Logger } from '../log.js';
import { describeKubeError, type DrainResult, type KubeOps } from '../kube/client.js';
import type { PowerResult } from '../power/bmc.js';
import { explainStall } from './diagnose.js';
import { decide, overdue, TIMEOUT_GROUPS, type Observation } from './machine.js';

export interface Transition {
  nodeId: number;
  node: string;
  from: NodeState;
  to: NodeState;
  at: number;
  reason: string;
  /** How long the node was in `from` (ms). */
  durationMs: number;
  /** The timeline event that records it. */
  eventId: number;
}

export type ObservationOutcome = 'advanced' | 'repeat' | 'stale' | 'ignored';

export interface Observed {
  node: Node;
  obs: Observation;
  outcome: ObservationOutcome;
}

export interface ObserveResult {
  outcome: ObservationOutcome;
  /** The node's state afterwards. */
  state: NodeState;
  transition: Transition | null;
}

export interface ReimageOptions {
  powerCycle?: boolean;
  /** Go on when the drain does not finish (PDB refusals, API errors) instead of refusing. */
  force?: boolean;
  /** Operator name, for the timeline. */
  by?: string;
}

export interface ReimageResult {
  node: Node;
  transition: Transition;
  kubernetes:
    | { managed: false; message: string }
    | {
        managed: true;
        drained: boolean;
        found: boolean;
        evicted: string[];
        remaining: { pod: string; reason: string }[];
        message: string;
      };
  power:
    | { requested: false; message: string }
    | { requested: true; ok: true; method: string; action: string }
    | { requested: true; ok: false; error: string };
}

export type ReimageErrorCode = 'conflict' | 'invalid';

export class ReimageError extends Error {
  constructor(
    readonly code: ReimageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface LifecycleDeps {
  db: Db;
  nodes: NodeStore;
  events: EventLog;
  timeouts: Config['timeouts'];
  log: Logger;
  /** Drain on reimage; null without a kubeconfig. */
  kube?: KubeOps | null;
  drainTimeoutMs?: number;
  powerCycle?: (bmc: Bmc) => Promise<PowerResult>;
  now?: () => number;
}

const MAX_MESSAGE = 2000;
/** How much of a node's timeline the stall diagnosis reads. */
const DIAGNOSIS_EVENTS = 50;

function observationEvent(obs: Observation): { type: string; source: string; data: Record<string, unknown> } {
  switch (obs.kind) {
    case 'dhcp-offer':
      return {
        type: 'dhcp.offer',
        source: 'dhcp',
        data: { mode: obs.mode, bootFile: obs.bootFile, client: obs.client, ...obs.details },
      };
    case 'file-served':
      return {
        type: `${obs.via}.sent`,
        source: obs.via,
        data: { role: obs.role, file: obs.file, bytes: obs.bytes, durationMs: obs.durationMs, client: obs.client },
      };
    case 'installer-config':
      return { type: 'installer.config', source: 'http', data: { file: obs.file, client: obs.client } };
    case 'callback':
      return {
        type: 'callback',
        source: 'api',
        data: { stage: obs.stage, message: obs.message?.slice(0, MAX_MESSAGE) ?? null, client: obs.client },
      };
    case 'node-ready':
      return { type: 'kube.ready', source: 'kubernetes', data: { kubeNode: obs.kubeNode } };
  }
}

export class Lifecycle extends EventEmitter<{ transition: [Transition]; observed: [Observed] }> {
  private readonly now: () => number;

  constructor(private readonly deps: LifecycleDeps) {
    super();
    this.now = deps.now ?? Date.now;
  }

  /**
   * Record what a service saw a node do and move the node if it is evidence of
   * progress (rules in machine.ts). The node is re-read inside the transaction,
   * so a caller holding an older copy (a TFTP transfer that took a minute) is fine.
   * Null when the node no longer exists.
   */
  observe(node: Pick<Node, 'id'>, obs: Observation): ObserveResult | null {
    const at = this.now();
    const result = this.deps.db.transaction((): (ObserveResult & { node: Node }) | null => {
      const fresh = this.deps.nodes.byId(node.id);
      if (!fresh) return null; // deleted meanwhile
      const d = decide(fresh, obs);
      const outcome: ObservationOutcome = d.move ? 'advanced' : d.outcome;
      let cause: number | undefined;
      if (!(obs.kind === 'dhcp-offer' && obs.recorded)) {
        const ev = observationEvent(obs);
        cause = this.deps.events.record(
          fresh.id,
          ev.type,
          ev.source,
          { ...ev.data, outcome, ...(d.move ? {} : { note: d.note }) },
          at,
        ).id;
      }
      if (!d.move) return { node: fresh, outcome, state: fresh.state, transition: null };
      const transition = this.write(fresh, d.to, d.reason, at, { ...(cause ? { cause } : {}) });
      return { node: fresh, outcome, state: d.to, transition };
    })();
    if (!result) return null;
    this.safeEmit('observed', { node: result.node, obs, outcome: result.outcome });
    if (result.transition) this.safeEmit('transition', result.transition);
    return { outcome: result.outcome, state: result.state, transition: result.transition };
  }

  /**
   * An operator's edit (PATCH). Giving a discovered machine a profile enrols it:
   * discovered -> registered is a transition like any other, on the timeline and
   * the event stream, in the same transaction as the edit.
   */
  edit(idOrName: string, patch: NodePatch, by?: string): Node {
    const at = this.now();
    const result = this.deps.db.transaction(() => {
      const before = this.deps.nodes.mustGet(idOrName);
      const node = this.deps.nodes.patch(idOrName, patch);
      if (before.state !== 'discovered' || node.state === 'discovered') return { node, transition: null };
      const reason = `enrolled with profile ${node.profile}${by ? ` by ${by}` : ''}`;
      return { node, transition: this.stateEvent(before, node.state, reason, at, { enrolled: true }) };
    })();
    if (result.transition) this.safeEmit('transition', result.transition);
    return result.node;
  }

  /** Nodes that spent their stage budget (config `timeouts`) go to failed, with what was seen last. */
  checkTimeouts(now = this.now()): Transition[] {
    const done: Transition[] = [];
    const states = new Set<NodeState>(Object.values(TIMEOUT_GROUPS).flat());
    for (const candidate of this.deps.nodes.list()) {
      if (!states.has(candidate.state)) continue;
      const t = this.deps.db.transaction((): Transition | null => {
        const node = this.deps.nodes.byId(candidate.id);
        if (!node) return null;
        const late = overdue(node, this.deps.timeouts, now);
        if (!late) return null;
        // Only this run's evidence: what the node did before a reimage says nothing now.
        const recent = this.deps.events.latest(node.id, DIAGNOSIS_EVENTS).filter((e) => e.ts >= late.since);
        const why = explainStall(node.state, late.seconds, recent);
        return this.write(node, 'failed', `timed out: ${why}`, now, {
          stage: node.state,
          timeout: late.budget,
          timeoutSeconds: late.seconds,
        });
      })();
      if (t) {
        this.deps.log.warn({ node: t.node, stage: t.from, reason: t.reason }, 'node timed out');
        this.safeEmit('transition', t);
        done.push(t);
      }
    }
    return done;
  }

  /**
   * Arm a node for reinstall: drain it from Kubernetes when a kubeconfig is set,
   * then a new node token, netboot on, state registered, then (optionally) a power
   * cycle. The power cycle comes last and after the state is written (pitfalls
   * §4.17): a reboot must find the node armed, and its DHCP must not race the write.
   */
  async reimage(node: Node, opts: ReimageOptions = {}): Promise<ReimageResult> {
    if (node.source === 'discovered') {
      throw new ReimageError(
        'conflict',
        `${node.name} is a discovered machine: give it a profile (PATCH) to enrol it; there is nothing to reimage`,
      );
    }
    if (!node.profile) throw new ReimageError('conflict', `node ${node.name} has no profile: nothing to install`);
    if (opts.powerCycle && !node.bmc) {
      throw new ReimageError(
        'invalid',
        `node ${node.name} has no bmc: power-cycle it by hand, or add bmc: to its inventory entry`,
      );
    }

    const kubernetes = await this.drain(node, !!opts.force);
    const at = this.now();
    const transition = this.deps.db.transaction((): Transition => {
      const fresh = this.deps.nodes.byId(node.id);
      if (!fresh) throw new ReimageError('conflict', `node ${node.name} was deleted while it was being drained`);
      this.deps.nodes.rearm(fresh.id, at);
      return this.stateEvent(fresh, 'registered', `reimage requested${opts.by ? ` by ${opts.by}` : ''}`, at, {
        reimage: true,
      });
    })();
    this.safeEmit('transition', transition);
    this.deps.log.info({ node: node.name, from: transition.from, by: opts.by }, 'node armed for reimage');

    let power: ReimageResult['power'] = {
      requested: false,
      message: node.bmc
        ? 'not power-cycled: reboot it (or ask for a power cycle) to network boot'
        : 'no bmc: reboot the machine by hand to network boot',
    };
    if (opts.powerCycle && node.bmc) power = await this.cycle(node, node.bmc);
    return { node: this.deps.nodes.byId(node.id)!, transition, kubernetes, power };
  }

  private async drain(node: Node, force: boolean): Promise<ReimageResult['kubernetes']> {
    const kube = this.deps.kube;
    if (!kube) {
      return {
        managed: false,
        message: `no kubernetes.kubeconfig configured: drain and delete the Node yourself (kubectl drain ${node.name} --ignore-daemonsets; kubectl delete node ${node.name})`,
      };
    }
    const timeoutMs = this.deps.drainTimeoutMs ?? 120_000;
    let result: DrainResult;
    try {
      result = await kube.drainNode(node.name, { timeoutMs });
    } catch (err) {
      const why = describeKubeError(err);
      this.deps.events.record(node.id, 'kube.drain', 'kubernetes', { ok: false, error: why, force });
      if (!force)
        throw new ReimageError(
          'conflict',
          `could not drain Node ${node.name}: ${why}; nothing changed (use force to reimage anyway)`,
        );
      return {
        managed: true,
        drained: false,
        found: false,
        evicted: [],
        remaining: [],
        message: `drain failed (${why}); reimaged anyway (force)`,
      };
    }
    const drained = result.remaining.length === 0;
    this.deps.events.record(node.id, 'kube.drain', 'kubernetes', {
      ok: drained,
      found: result.found,
      evicted: result.evicted,
      remaining: result.remaining,
      force,
    });
    if (!drained && !force) {
      const pods = result.remaining.map((r) => `${r.pod} (${r.reason})`).join(', ');
      throw new ReimageError(
        'conflict',
        `drain of Node ${node.name} did not finish in ${Math.round(timeoutMs / 1000)} s; still running: ${pods}. The node stays cordoned; nothing else changed (use force to reimage anyway)`,
      );
    }
    const message = !result.found
      ? `no Node ${node.name} in the cluster: nothing to drain`
      : drained
        ? `cordoned and drained (${result.evicted.length} pods evicted); the Node object is deleted when the install starts`
        : `cordoned; ${result.remaining.length} pods not evicted, reimaged anyway (force); the Node object is deleted when the install starts`;
    return {
      managed: true,
      drained,
      found: result.found,
      evicted: result.evicted,
      remaining: result.remaining,
      message,
    };
  }

  private async cycle(node: Node, bmc: Bmc): Promise<ReimageResult['power']> {
    if (!this.deps.powerCycle)
      return { requested: true, ok: false, error: 'power control is not available in this daemon' };
    // Recorded before it is issued: the node's DHCP may arrive before the BMC answers.
    this.deps.events.record(node.id, 'power.cycle', 'bmc', {
      type: bmc.type,
      address: bmc.address,
      phase: 'requested',
    });
    try {
      const r = await this.deps.powerCycle(bmc);
      this.deps.events.record(node.id, 'power.cycle', 'bmc', {
        type: bmc.type,
        address: bmc.address,
        phase: 'done',
        action: r.action,
      });
      return { requested: true, ok: true, method: r.method, action: r.action };
    } catch (err) {
      const error = (err as Error).message;
      this.deps.events.record(node.id, 'power.cycle', 'bmc', {
        type: bmc.type,
        address: bmc.address,
        phase: 'failed',
        error,
      });
      this.deps.log.warn({ node: node.name, error }, 'power cycle failed');
      return { requested: true, ok: false, error };
    }
  }

  /** State write plus its rules (installed ends netboot), inside the caller's transaction. */
  private write(node: Node, to: NodeState, reason: string, at: number, extra: Record<string, unknown>): Transition {
    this.deps.nodes.setStateRow(node.id, to, at);
    // From here PXE gets "boot from local disk" until a reimage (SPEC §5).
    if (to === 'installed') this.deps.nodes.setNetboot(node.id, false, at);
    return this.stateEvent(node, to, reason, at, extra);
  }

  private stateEvent(
    node: Node,
    to: NodeState,
    reason: string,
    at: number,
    extra: Record<string, unknown>,
  ): Transition {
    const ev = this.deps.events.record(node.id, 'state', 'lifecycle', { from: node.state, to, reason, ...extra }, at);
    return {
      nodeId: node.id,
      node: node.name,
      from: node.state,
      to,
      at,
      reason,
      durationMs: Math.max(0, at - node.stateSince),
      eventId: ev.id,
    };
  }

  /** Subscribers run after the commit; one that throws must not undo or block the change. */
  private safeEmit<K extends 'transition' | 'observed'>(
    name: K,
    ...args: K extends 'transition' ? [Transition] : [Observed]
  ): void {
    for (const listener of this.listeners(name)) {
      try {
        (listener as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.deps.log.error({ err, event: name }, 'a lifecycle subscriber failed');
      }
    }
  }
}
