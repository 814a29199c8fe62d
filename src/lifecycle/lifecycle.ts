// The one place node states change. Services report what they saw (observe);
// the rules in machine.ts decide; this class writes the observation and the
// transition it causes to the node's timeline in one transaction, the transition
// naming its cause, and tells subscribers (SSE, metrics, the cluster side) after
// the commit. An operator's enrolment, stage timeouts and reimage are the other
// ways a state changes, and they too happen only here.
import { EventEmitter } from 'node:events';
import type { Config } from '../config.js';
import type { Db } from '../db.js';
import type { EventLog } from '../events.js';
import { NodeProgress } from '../inventory/progress.js';
import type { Bmc, NodePatch } from '../inventory/schema.js';
import type { NodeState } from '../inventory/states.js';
import type { Node, NodeStore } from '../inventory/store.js';
import type { KubeOps } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { PowerResult } from '../power/bmc.js';
import { explainStall } from './diagnose.js';
import { decide, FAILURES, overdue, TIMEOUT_GROUPS, type Observation } from './machine.js';
import {
  drainForReimage,
  powerCycleNode,
  powerNotRequested,
  reimageRefusal,
  ReimageError,
  type KubernetesOutcome,
  type PowerOutcome,
  type ReimageOptions,
} from './reimage.js';

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

/** advanced: moved the node; repeat/stale/ignored: recorded, changed nothing; none: no evidence at all. */
export type ObservationOutcome = 'advanced' | 'repeat' | 'stale' | 'ignored' | 'none';

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

/** Whose observation: a node we hold, or a MAC (a machine that may not be in the database yet). */
export type ObservedMachine = Pick<Node, 'id'> | { mac: string; discover: boolean };

export interface ReimageResult {
  node: Node;
  transition: Transition;
  kubernetes: KubernetesOutcome;
  power: PowerOutcome;
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
    case 'dhcp':
      return { type: obs.exchange.type, source: 'dhcp', data: obs.exchange.data };
    case 'file-served': {
      const { role, file, bytes, durationMs, client } = obs;
      return { type: `${obs.via}.sent`, source: obs.via, data: { role, file, bytes, durationMs, client } };
    }
    case 'installer-config':
      return { type: 'installer.config', source: 'http', data: { file: obs.file, client: obs.client } };
    case 'callback': {
      const message = obs.message?.slice(0, MAX_MESSAGE) ?? null;
      const output = obs.output ? { output: obs.output } : {};
      return { type: 'callback', source: 'api', data: { stage: obs.stage, message, client: obs.client, ...output } };
    }
    case 'node-ready':
      return { type: 'kube.ready', source: 'kubernetes', data: { kubeNode: obs.kubeNode } };
    case 'failure': {
      const { what, via, file, detail, template } = obs.failure;
      const where = template ? { template: template.name, line: template.line } : {};
      const data = { file, detail: detail.slice(0, MAX_MESSAGE), ...where, client: obs.client };
      return { type: FAILURES[what], source: via, data };
    }
  }
}

type Emit = () => void;

export class Lifecycle extends EventEmitter<{ transition: [Transition]; observed: [Observed] }> {
  private readonly now: () => number;
  private readonly progress: NodeProgress;

  constructor(private readonly deps: LifecycleDeps) {
    super();
    this.now = deps.now ?? Date.now;
    this.progress = new NodeProgress(deps.db);
  }

  /**
   * Record what a service saw a node do and move the node if it is evidence of
   * progress (rules in machine.ts). The node is re-read inside the transaction,
   * so a caller holding an older copy (a TFTP transfer that took a minute) is fine.
   * Null when the node no longer exists.
   */
  observe(node: ObservedMachine, obs: Observation): ObserveResult | null {
    const emits: Emit[] = [];
    const result = this.deps.nodes.transaction(() => this.record(node, obs, this.now(), emits));
    for (const emit of emits) emit();
    return result;
  }

  /**
   * Several observations in one transaction (one disk sync); subscribers hear of them
   * after the commit. One that cannot be recorded is logged and left out, not the rest.
   */
  observeAll(entries: { node: ObservedMachine; obs: Observation }[]): (ObserveResult | null)[] {
    const at = this.now();
    const emits: Emit[] = [];
    const one = (e: { node: ObservedMachine; obs: Observation }) => {
      const mine: Emit[] = [];
      try {
        // A savepoint each: a failed one rolls back alone.
        const r = this.deps.nodes.transaction(() => this.record(e.node, e.obs, at, mine));
        emits.push(...mine);
        return r;
      } catch (err) {
        this.deps.log.warn({ err, kind: e.obs.kind }, 'could not record an observation');
        return null;
      }
    };
    const results = this.deps.nodes.transaction(() => entries.map(one));
    for (const emit of emits) emit();
    return results;
  }

  private record(target: ObservedMachine, obs: Observation, at: number, emits: Emit[]): ObserveResult | null {
    const node = this.resolve(target);
    if (!node) return null; // deleted meanwhile, or a MAC not worth recording
    const ev = observationEvent(obs);
    const d = decide(node, obs);
    const outcome: ObservationOutcome = d.move ? 'advanced' : d.outcome;
    // No evidence: recorded as seen, with no verdict on the node.
    const verdict = d.move ? { outcome } : outcome === 'none' ? {} : { outcome, note: d.note };
    const data = { ...ev.data, ...verdict };
    const cause = this.deps.events.record(node.id, ev.type, ev.source, data, at).id;
    const transition = d.move ? this.write(node, d.to, d.reason, at, { cause }) : null;
    emits.push(() => this.safeEmit('observed', { node, obs, outcome }));
    if (transition) emits.push(() => this.safeEmit('transition', transition));
    return { outcome, state: transition?.to ?? node.state, transition };
  }

  private resolve(target: ObservedMachine): Node | undefined {
    if ('id' in target) return this.deps.nodes.byId(target.id);
    const known = this.deps.nodes.findByMac(target.mac);
    return known ?? (target.discover ? this.deps.nodes.recordDiscovered(target.mac) : undefined);
  }

  /**
   * An operator's edit (PATCH). Giving a discovered machine a profile enrols it:
   * discovered -> registered is a transition like any other, on the timeline and
   * the event stream, in the same transaction as the edit.
   */
  edit(idOrName: string, patch: NodePatch, by?: string): Node {
    const at = this.now();
    const result = this.deps.nodes.transaction(() => {
      const before = this.deps.nodes.mustGet(idOrName);
      const node = this.deps.nodes.patch(idOrName, patch);
      if (before.source !== 'discovered' || node.source === 'discovered') return { node, transition: null };
      const reason = `enrolled with profile ${node.profile}${by ? ` by ${by}` : ''}`;
      const transition = this.write(before, 'registered', reason, at, { enrolled: true });
      return { node: this.deps.nodes.byId(node.id)!, transition };
    });
    if (result.transition) this.safeEmit('transition', result.transition);
    return result.node;
  }

  /** Nodes that spent their stage budget (config `timeouts`) go to failed, with what was seen last. */
  checkTimeouts(now = this.now()): Transition[] {
    const done: Transition[] = [];
    const states = new Set<NodeState>(Object.values(TIMEOUT_GROUPS).flat());
    for (const candidate of this.deps.nodes.list()) {
      if (!states.has(candidate.state)) continue;
      const t = this.deps.nodes.transaction((): Transition | null => {
        const node = this.deps.nodes.byId(candidate.id);
        const late = node && overdue(node, this.deps.timeouts, now);
        if (!node || !late) return null;
        // Only this run's evidence: what the node did before a reimage says nothing now.
        const recent = this.deps.events.latest(node.id, DIAGNOSIS_EVENTS).filter((e) => e.ts >= late.since);
        const why = explainStall(node.state, late.seconds, recent);
        const timeout = { stage: node.state, timeout: late.budget, timeoutSeconds: late.seconds };
        return this.write(node, 'failed', `timed out: ${why}`, now, timeout);
      });
      if (t) {
        this.deps.log.warn({ node: t.node, stage: t.from, reason: t.reason }, 'node timed out');
        this.safeEmit('transition', t);
        done.push(t);
      }
    }
    return done;
  }

  /**
   * Why the node needs the operator, in one line; null when it does not. A failed
   * node: the reason its failure was recorded with (the callback's message, the
   * timeout's diagnosis). A stuck one: a provisioning node that has spent more than
   * half of its stage budget, with the diagnosis it would time out with.
   */
  reasonOf(node: Node, now = this.now()): string | null {
    if (node.state === 'failed') {
      const failure = this.deps.events.lastOf(node.id, 'state');
      return failure?.data.to === 'failed' ? String(failure.data.reason) : 'failed';
    }
    const { pxe, install, join } = this.deps.timeouts;
    const late = overdue(node, { pxe: pxe / 2, install: install / 2, join: join / 2 }, now);
    if (!late) return null;
    const recent = this.deps.events.latest(node.id, DIAGNOSIS_EVENTS).filter((e) => e.ts >= late.since);
    return `stuck: ${explainStall(node.state, Math.floor((now - late.since) / 1000), recent)}`;
  }

  /**
   * Arm a node for reinstall: drain it from Kubernetes when a kubeconfig is set,
   * then a new node token, netboot on, state registered, then (optionally) a power
   * cycle. The power cycle comes last and after the state is written
   * (docs/lifecycle.md): a reboot must find the node armed, and its DHCP must not
   * race the write.
   */
  async reimage(node: Node, opts: ReimageOptions = {}): Promise<ReimageResult> {
    const refused = reimageRefusal(node, opts);
    if (refused) throw refused;
    const { kube = null, events, drainTimeoutMs = 120_000 } = this.deps;
    const kubernetes = await drainForReimage({ kube, events, timeoutMs: drainTimeoutMs }, node, !!opts.force);
    const at = this.now();
    const transition = this.deps.nodes.transaction((): Transition => {
      const fresh = this.deps.nodes.byId(node.id);
      if (!fresh) throw new ReimageError('conflict', `node ${node.name} was deleted while it was being drained`);
      this.progress.rearm(fresh.id, at);
      const reason = `reimage requested${opts.by ? ` by ${opts.by}` : ''}`;
      return this.stateEvent(fresh, 'registered', reason, at, { reimage: true });
    });
    this.safeEmit('transition', transition);
    this.deps.log.info({ node: node.name, from: transition.from, by: opts.by }, 'node armed for reimage');

    let power = powerNotRequested(node);
    if (opts.powerCycle && node.bmc) {
      const cycled = await powerCycleNode({ powerCycle: this.deps.powerCycle, events }, node, node.bmc);
      if (cycled.requested && !cycled.ok)
        this.deps.log.warn({ node: node.name, error: cycled.error }, 'power cycle failed');
      power = cycled;
    }
    return { node: this.deps.nodes.byId(node.id)!, transition, kubernetes, power };
  }

  /** State write plus its rules (installed ends netboot), inside the caller's transaction. */
  private write(node: Node, to: NodeState, reason: string, at: number, extra: Record<string, unknown>): Transition {
    this.progress.setState(node.id, to, at);
    // From here PXE gets "boot from local disk" until a reimage (docs/lifecycle.md).
    if (to === 'installed') this.progress.disarm(node.id, at);
    return this.stateEvent(node, to, reason, at, extra);
  }

  private stateEvent(node: Node, to: NodeState, reason: string, at: number, extra: Record<string, unknown>) {
    const ev = this.deps.events.record(node.id, 'state', 'lifecycle', { from: node.state, to, reason, ...extra }, at);
    const durationMs = Math.max(0, at - node.stateSince);
    return { nodeId: node.id, node: node.name, from: node.state, to, at, reason, durationMs, eventId: ev.id };
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
