// The node state machine as plain functions: given a node's state and one
// observation, which state (if any) does the evidence move it to, and why not.
// No I/O here; lifecycle.ts applies the decision, records it and tells subscribers.
//
// The rules, settled once (docs/lifecycle.md):
// - The path is registered → pxe → booting → installing → installed → joining → joined.
//   Evidence only ever moves a node forward. Evidence for the state the node is in
//   is a repeat; evidence for an earlier state is stale (iPXE's own DHCP after the
//   loader, a retried DHCP during install, a late `installing` after `installed`).
//   Both are recorded in the timeline and change nothing.
// - Evidence may skip states (a node booted from media never PXE-boots; a lost
//   callback): the node jumps ahead and only the states actually entered get a
//   timestamp.
// - installed, joining and joined nodes boot from their disk; their DHCP and file
//   fetches are stale evidence by the rule above, so they never restart an install.
//   Only a reimage does.
// - `failed` is reachable from every provisioning state, by an installer's
//   `failed` callback or by a stage timeout. A failed node is held: the boot
//   decision sends it to its disk until a reimage, so its DHCP and boot-file
//   fetches are a reboot being turned away, never progress. It stays failed
//   against those and against evidence at or before the stage it failed in (a
//   reboot loop after an installer error must not look like progress), but the
//   installer's or the installed system's own word *past* that stage means the
//   machine did get further (a slow install that finished after its timeout),
//   and the node follows it: the state reflects the machine, not the watchdog.
// - A Ready Node object counts only once the OS is installed (installed, joining):
//   before that it is the previous life's Node, still in the cluster.
// - `discovered` nodes (unknown MACs) never progress; an operator enrols them.
// - Callbacks are idempotent: the same stage twice is a repeat.
// - Reimage (any state but discovered → registered) is an operator action, not an
//   observation; lifecycle.ts does it.
import type { NodeState } from '../inventory/states.js';

/** Where each state sits on the path; states off the path have none. */
const RANK: Partial<Record<NodeState, number>> = {
  registered: 0,
  pxe: 1,
  booting: 2,
  installing: 3,
  installed: 4,
  joining: 5,
  joined: 6,
};

export const CALLBACK_STAGES = ['installing', 'installed', 'joining', 'joined', 'failed'] as const;
export type CallbackStage = (typeof CALLBACK_STAGES)[number];
/**
 * A `failed` callback's `output` (the end of the failing command's log): how much the
 * API accepts, how much the templates send (more than is kept, so the cut to whole
 * lines happens in rackjoin), and how much of its end is kept on the timeline.
 */
export const CALLBACK_OUTPUT = { acceptedChars: 64 * 1024, sentBytes: 8192, keptBytes: 4096 } as const;

export const FILE_ROLES = ['loader', 'boot-config', 'kernel', 'initrd', 'asset'] as const;
export type FileRole = (typeof FILE_ROLES)[number];

/**
 * One DHCP exchange as the DHCP server recorded it once its outcome was known
 * (reply sent, withheld, or request dropped): the timeline event it becomes.
 */
export interface DhcpExchange {
  /**
   * Event type: dhcp.offer, dhcp.ack, dhcp.proxy-offer, ... when a reply went out, else dhcp.<request>;
   * dhcp.conflict when the address about to be offered answered the conflict check.
   */
  type: string;
  /** The mode that answered: proxy | reservation | pool. */
  mode: string;
  /** The boot file a reply that went out carried; null when no boot offer left. */
  bootFile: string | null;
  /** The client's address when we know it (leased, or its own), else its MAC. */
  client: string;
  /** What came in, what went out or why not: shown as the event's data. */
  data: Record<string, unknown>;
}

/**
 * What went wrong serving a node, as the node met it: a boot or installer file that
 * failed to render, a file not in assets/, a node token nobody holds, an error a
 * TFTP transfer ended with. No evidence of progress, but the stall diagnosis reads
 * these first (diagnose.ts): they say why the next step never came.
 */
export const FAILURES = {
  render: 'render.failed',
  missing: 'file.missing',
  token: 'token.refused',
  tftp: 'tftp.error',
} as const;
export type FailureKind = keyof typeof FAILURES;

export interface Failure {
  what: FailureKind;
  via: 'tftp' | 'http';
  /** The file asked for (a path or URL path; untrusted, bounded by the service). */
  file: string;
  /** What went wrong, in words: the template error, the TFTP error sent, ... */
  detail: string;
  /** Template name and line, for render failures. */
  template?: { name: string; line: number | null };
}

/** Something a service saw a node do. `client` is the peer address (ip, or ip:port, or MAC). */
export type Observation =
  | { kind: 'dhcp'; exchange: DhcpExchange }
  | {
      kind: 'file-served';
      via: 'tftp' | 'http';
      role: FileRole;
      file: string;
      bytes: number;
      durationMs: number;
      client: string;
    }
  /** user-data, meta-data, kickstart, preseed fetched with the node token */
  | { kind: 'installer-config'; file: string; client: string }
  /** `output`: the end of a failing command's output, secrets already masked (src/api/scrub.ts). */
  | { kind: 'callback'; stage: CallbackStage; message?: string; output?: string; client: string }
  | { kind: 'failure'; failure: Failure; client: string }
  /** The apiserver reports the Node object (by hostname) Ready. */
  | { kind: 'node-ready'; kubeNode: string };

/** The state an observation is evidence of; null when it is no evidence (a DHCP exchange without a boot offer). */
export function evidenceOf(obs: Observation): NodeState | null {
  switch (obs.kind) {
    case 'dhcp':
      return obs.exchange.bootFile === null ? null : 'pxe';
    case 'file-served':
      return 'booting';
    case 'installer-config':
      return 'installing';
    case 'callback':
      return obs.stage;
    case 'node-ready':
      return 'joined';
    case 'failure':
      return null;
  }
}

export type Decision =
  | { move: true; to: NodeState; reason: string }
  /**
   * repeat: evidence for the current state; stale: for an earlier one; ignored: cannot apply here;
   * none: no evidence at all (a DHCP exchange without a boot offer), recorded as it is.
   */
  | { move: false; outcome: 'repeat' | 'stale' | 'ignored' | 'none'; note: string };

export interface MachineNode {
  state: NodeState;
  stages: Partial<Record<NodeState, number>>;
}

/** The path state a failed node was in when it failed (latest stage entered before `failed`). */
export function failedStage(node: MachineNode): NodeState | null {
  const failedAt = node.stages.failed;
  if (failedAt === undefined) return null;
  let best: NodeState | null = null;
  for (const [s, at] of Object.entries(node.stages) as [NodeState, number][]) {
    const rank = RANK[s];
    if (rank === undefined || at > failedAt) continue;
    const bestAt = best ? node.stages[best]! : -1;
    // Same millisecond: the later state on the path was entered last.
    if (at > bestAt || (at === bestAt && rank > RANK[best!]!)) best = s;
  }
  return best;
}

export function decide(node: MachineNode, obs: Observation): Decision {
  const to = evidenceOf(obs);
  const from = node.state;
  if (to === null) return { move: false, outcome: 'none', note: 'no evidence of progress' };
  if (from === 'discovered')
    return { move: false, outcome: 'ignored', note: 'discovered node: enrol it (give it a profile) first' };

  if (obs.kind === 'node-ready' && from !== 'joined') {
    // A Ready Node before the install finished belongs to the machine's previous
    // life (it is deleted when the install starts); it says nothing about this run.
    const at = from === 'failed' ? failedStage(node) : from;
    if (at !== 'installed' && at !== 'joining') {
      return {
        move: false,
        outcome: 'ignored',
        note: `a Ready Node while ${from} is left over from an earlier install`,
      };
    }
  }

  if (to === 'failed') {
    if (from === 'failed') return { move: false, outcome: 'repeat', note: 'already failed' };
    // The node's own words when it sent any: "installing: adding the Kubernetes apt repository failed: ...".
    const said = obs.kind === 'callback' && obs.message ? obs.message : 'node reported failure';
    return { move: true, to, reason: `${from}: ${said}` };
  }

  if (from === 'failed') {
    const stuck = failedStage(node);
    const stuckRank = stuck ? RANK[stuck]! : -1;
    if (to === 'pxe' || to === 'booting') {
      return { move: false, outcome: 'stale', note: `failed in ${stuck}: held, sent to its disk (reimage to retry)` };
    }
    if (RANK[to]! <= stuckRank) {
      return {
        move: false,
        outcome: 'stale',
        note: `failed in ${stuck}; evidence of ${to} does not undo that (reimage to retry)`,
      };
    }
    return { move: true, to, reason: `${describe(obs)}: got past ${stuck ?? 'the failure'} after failing` };
  }

  const rankFrom = RANK[from]!;
  const rankTo = RANK[to]!;
  if (rankTo === rankFrom) return { move: false, outcome: 'repeat', note: `already ${from}` };
  if (rankTo < rankFrom)
    return { move: false, outcome: 'stale', note: `${from} already; evidence of ${to} does not move it back` };
  return { move: true, to, reason: describe(obs) };
}

/** One phrase for what was seen, for transition reasons. */
export function describe(obs: Observation): string {
  switch (obs.kind) {
    case 'dhcp':
      return `boot offer sent (${obs.exchange.mode}${obs.exchange.bootFile ? `, ${obs.exchange.bootFile}` : ''})`;
    case 'file-served':
      return `${obs.role} ${obs.file} served over ${obs.via}`;
    case 'installer-config':
      return `installer fetched ${obs.file}`;
    case 'callback':
      return `callback: ${obs.stage}${obs.message ? ` (${obs.message})` : ''}`;
    case 'node-ready':
      return `Kubernetes Node ${obs.kubeNode} is Ready`;
    case 'failure':
      return `${obs.failure.file}: ${obs.failure.detail}`;
  }
}

/** Stage budgets: config `timeouts` key → the states that spend it. */
export const TIMEOUT_GROUPS = {
  pxe: ['pxe', 'booting'],
  install: ['installing'],
  join: ['installed', 'joining'],
} as const satisfies Record<string, readonly NodeState[]>;
export type TimeoutKey = keyof typeof TIMEOUT_GROUPS;

export interface Overdue {
  budget: TimeoutKey;
  seconds: number;
  /** When the node entered the budget's first state in this run. */
  since: number;
}

/**
 * Whether the node has spent its stage budget. A budget covers a group of states
 * (offer → installer start, install, installed → joined) and runs from the first
 * of them entered, so re-entries within a group do not restart the clock.
 */
export function overdue(node: MachineNode, timeouts: Record<TimeoutKey, number>, now: number): Overdue | null {
  for (const [budget, states] of Object.entries(TIMEOUT_GROUPS) as [TimeoutKey, readonly NodeState[]][]) {
    if (!states.includes(node.state)) continue;
    const entered = states.map((s) => node.stages[s]).filter((t): t is number => t !== undefined);
    const since = Math.min(...entered);
    const seconds = timeouts[budget];
    return now - since > seconds * 1000 ? { budget, seconds, since } : null;
  }
  return null;
}
