// What the API shows of a node. The response schema is also a filter: fields not
// listed here (the node's secret token) can never be serialised.
import { Type, type Static } from '@sinclair/typebox';
import { BmcSchema, LOCAL_BOOT } from '../inventory/schema.js';
import { NODE_STATES } from '../inventory/states.js';
import { intentOf } from '../boot/decide.js';
import type { Inventory } from '../inventory/index.js';
import type { Node, NodeStore } from '../inventory/store.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import { Labels, StringEnum, TemplateVars } from '../schema/common.js';
import { shownVars } from '../boot/installerVars.js';

const Iso = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const NodeView = Type.Object(
  {
    name: Type.String(),
    macs: Type.Array(Type.String()),
    ip: Nullable(Type.String()),
    profile: Nullable(Type.String()),
    labels: Labels,
    /** The node's own installer template variables (secret-looking values masked). */
    vars: TemplateVars,
    bmc: Nullable(BmcSchema),
    loaderFile: Nullable(Type.String()),
    localBoot: Nullable(StringEnum(LOCAL_BOOT)),
    source: StringEnum(['file', 'api', 'discovered'] as const),
    sourceFile: Nullable(Type.String()),
    state: StringEnum(NODE_STATES),
    stateSince: Iso,
    /** When each state was last entered. */
    stages: Type.Record(Type.String(), Iso),
    /** Seconds spent in each state entered in this run; the current state's runs up to now. */
    durations: Type.Record(Type.String(), Type.Number()),
    /** Armed for a network install: on at creation and reimage, off once installed. */
    netboot: Type.Boolean(),
    /** What the node gets when it network-boots now, and why (the boot decision's answer). */
    boot: Type.Object({
      intent: StringEnum(['install', 'local', 'ignore'] as const, {
        description: 'install: the installer; local: its own disk; ignore: nothing to install (no profile, discovered)',
      }),
      reason: Type.String(),
    }),
    reason: Nullable(
      Type.String({
        description:
          'why the node needs the operator: a failed node\'s recorded failure, or "stuck: ..." for a provisioning ' +
          'node past half its stage timeout; null otherwise',
      }),
    ),
    /** What the site check warns about this node or its profile (a kernel missing from assets/, ...). */
    warnings: Type.Array(Type.String()),
    createdAt: Iso,
    updatedAt: Iso,
  },
  { $id: 'Node' },
);
export type NodeViewT = Static<typeof NodeView>;

const iso = (ms: number) => new Date(ms).toISOString();

/** Each stage lasted until the next one was entered; the current one lasts until `now`. */
export function stageDurations(n: Pick<Node, 'stages' | 'state'>, now = Date.now()): Record<string, number> {
  const entered = (Object.entries(n.stages) as [string, number][]).sort((a, b) => a[1] - b[1]);
  const out: Record<string, number> = {};
  entered.forEach(([state, at], i) => {
    const end = i + 1 < entered.length ? entered[i + 1]![1] : state === n.state ? now : at;
    out[state] = Math.max(0, end - at) / 1000;
  });
  return out;
}

/** The view of each node, with what the boot decision gives it now and why it needs the operator. */
export function nodeViews(
  nodes: Pick<NodeStore, 'profileOf'>,
  lifecycle: Pick<Lifecycle, 'reasonOf'>,
  inventory: Pick<Inventory, 'warningsFor'>,
): (n: Node) => NodeViewT {
  return (n) => {
    const intent = intentOf({ mac: n.macs[0] ?? '', node: n, profile: nodes.profileOf(n) });
    const boot = { intent: intent.kind, reason: intent.reason };
    return nodeView(n, boot, lifecycle.reasonOf(n), inventory.warningsFor(n));
  };
}

function nodeView(n: Node, boot: NodeViewT['boot'], reason: string | null, warnings: string[]): NodeViewT {
  return {
    name: n.name,
    macs: n.macs,
    ip: n.ip,
    profile: n.profile,
    labels: n.labels,
    vars: shownVars(n.vars),
    bmc: n.bmc,
    loaderFile: n.loaderFile,
    localBoot: n.localBoot,
    source: n.source,
    sourceFile: n.sourceFile,
    state: n.state,
    stateSince: iso(n.stateSince),
    stages: Object.fromEntries(Object.entries(n.stages).map(([k, v]) => [k, iso(v!)])),
    durations: stageDurations(n),
    netboot: n.netboot,
    boot,
    reason,
    warnings,
    createdAt: iso(n.createdAt),
    updatedAt: iso(n.updatedAt),
  };
}
