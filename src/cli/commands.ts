// The operator commands that talk to the API.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeViewT } from '../api/views.js';
import type { Explanation } from '../explain.js';
import type { VariableView } from '../boot/installerVars.js';
import { apiClient, ApiClientError } from './client.js';
import { age, table, terminalWidth, wrap } from './table.js';

interface EventView {
  id: number;
  ts: string;
  type: string;
  source: string;
  data: Record<string, unknown>;
}

type Print = (s: string) => void;

export async function listNodes(
  opts: { state?: string; labels: string[]; json: boolean },
  print: Print,
): Promise<void> {
  const q = new URLSearchParams();
  if (opts.state) q.set('state', opts.state);
  for (const l of opts.labels) q.append('label', l);
  const { nodes } = await apiClient().request<{ nodes: NodeViewT[] }>('GET', `/api/v1/nodes${q.size ? `?${q}` : ''}`);
  if (opts.json) return print(JSON.stringify(nodes, null, 2));
  if (nodes.length === 0) return print('no nodes');
  const row = (n: NodeViewT) => [
    n.name,
    n.state,
    age(n.stateSince),
    n.profile ?? '-',
    n.ip ?? '-',
    n.macs.join(','),
    n.source,
    n.reason ?? '-',
  ];
  print(
    table(['NAME', 'STATE', 'AGE', 'PROFILE', 'IP', 'MACS', 'SOURCE', 'REASON'], nodes.map(row), {
      width: terminalWidth(),
    }),
  );
}

export async function showNode(id: string, opts: { json: boolean }, print: Print): Promise<void> {
  const api = apiClient();
  const enc = encodeURIComponent(id);
  const node = await api.request<NodeViewT>('GET', `/api/v1/nodes/${enc}`);
  const { events } = await api.request<{ events: EventView[] }>('GET', `/api/v1/nodes/${enc}/events`);
  if (opts.json) return print(JSON.stringify({ ...node, events }, null, 2));
  const pairs = (m: Record<string, string>) =>
    Object.entries(m)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-';
  print(
    [
      `Name:     ${node.name}`,
      `State:    ${node.state} (since ${node.stateSince}, ${age(node.stateSince)} ago)`,
      `Profile:  ${node.profile ?? '-'}`,
      `MACs:     ${node.macs.join(', ')}`,
      `IP:       ${node.ip ?? '-'}`,
      `Labels:   ${pairs(node.labels)}`,
      ...(Object.keys(node.vars).length ? [`Vars:     ${pairs(node.vars)}`] : []),
      `Netboot:  ${netbootLine(node)}`,
      ...(node.reason ? [`Reason:   ${node.reason}`] : []),
      ...node.warnings.map((w, i) => `${i === 0 ? 'Warnings: ' : '          '}${w}`),
      `Source:   ${node.source}${node.sourceFile ? ` (${node.sourceFile})` : ''}`,
      `Stages:   ${
        Object.entries(node.stages)
          .map(([s, t]) => `${s.padEnd(11)}${t}  (${seconds(node.durations[s])})`)
          .join('\n          ') || '-'
      }`,
      '',
      'Timeline:',
    ].join('\n'),
  );
  if (events.length === 0) return print('  (no events yet)');
  print(
    table(
      ['TIME', 'SOURCE', 'EVENT', 'DETAIL'],
      events.map((e) => [e.ts, e.source, e.type, summarize(e.data)]),
      { width: terminalWidth(), below: events.map((e) => outputLines(e.data, terminalWidth() - 6)) },
    ),
  );
}

/** A failed callback's output (the end of the failing command's log), shown under its event. */
function outputLines(data: Record<string, unknown>, width: number): string[] {
  if (typeof data.output !== 'string' || !data.output) return [];
  return ['output:', ...wrap(data.output.trimEnd(), Math.max(30, width)).map((l) => `| ${l}`)];
}

/** What the node gets when it network-boots now: the boot decision's answer, and what to do about it. */
function netbootLine(node: NodeViewT): string {
  const { intent, reason } = node.boot;
  if (intent === 'install') return `armed: installs (${reason})`;
  if (intent === 'ignore') return `nothing to install (${reason})`;
  const again = node.state === 'failed' ? `; \`rackjoin reimage ${node.name}\` to install again` : '';
  return `local disk (${reason})${again}`;
}

/** A stage duration as 42s / 3m05s / 1h02m. */
function seconds(s: number | undefined): string {
  if (s === undefined) return '-';
  const n = Math.round(s);
  if (n < 60) return `${n}s`;
  if (n < 3600) return `${Math.floor(n / 60)}m${String(n % 60).padStart(2, '0')}s`;
  return `${Math.floor(n / 3600)}h${String(Math.floor((n % 3600) / 60)).padStart(2, '0')}m`;
}

/** An event's data in full, as key=value (nested objects left to --json; output goes below the event). */
function summarize(data: Record<string, unknown>): string {
  return Object.entries(data)
    .filter(([k, v]) => v !== null && typeof v !== 'object' && k !== 'output')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

export async function importDir(dir: string, print: Print): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => /\.ya?ml$/i.test(n))
      .sort();
  } catch (err) {
    throw new ApiClientError(`cannot read ${dir}: ${(err as Error).message}`);
  }
  if (names.length === 0) throw new ApiClientError(`no *.yaml files in ${dir}`);
  const files = names.map((n) => ({ name: join(dir, n), content: readFileSync(join(dir, n), 'utf8') }));
  const summary = await apiClient().request<Record<string, Record<string, string[]>>>(
    'POST',
    '/api/v1/inventory/import',
    { files },
  );
  for (const [kind, changes] of Object.entries(summary)) {
    const parts = Object.entries(changes)
      .filter(([, v]) => v.length)
      .map(([what, v]) => `${what} ${v.join(', ')}`);
    print(`${kind}: ${parts.join('; ') || 'no change'}`);
  }
}

export async function explainMac(id: string, opts: { arch?: string; json: boolean }, print: Print): Promise<void> {
  const q = opts.arch ? `?arch=${encodeURIComponent(opts.arch)}` : '';
  const e = await apiClient().request<Explanation>('GET', `/api/v1/nodes/${encodeURIComponent(id)}/explain${q}`);
  if (opts.json) return print(JSON.stringify(e, null, 2));
  print(
    `${e.mac}  node ${e.node ?? '(unknown)'}  state ${e.state ?? '-'}  profile ${e.profile ?? '-'}  ` +
      `firmware ${e.arch}  dhcp ${e.dhcpMode}`,
  );
  e.stages.forEach((s, i) => {
    print(`\n${i + 1}. ${s.stage}: ${s.summary}`);
    print(`   why: ${s.reason}`);
    if (s.template) print(`   template: ${s.template}`);
    if (s.content) print(s.content.trimEnd().replace(/^/gm, '   | '));
  });
  if (e.variables.length) {
    print(
      `\nInstaller variables (what profile ${e.profile}'s templates use; node vars over profile vars over defaults):`,
    );
    print(variablesTable(e.variables));
  }
  for (const w of e.warnings) print(`\n${w}`);
  print('\n(secrets masked: [node-token], [join-token])');
}

/** NAME VALUE FROM, one row per variable (explain, check). */
export function variablesTable(vars: VariableView[]): string {
  return table(
    ['NAME', 'VALUE', 'FROM'],
    vars.map((v) => [v.name, v.value === '' ? '(empty)' : v.value, v.source]),
  );
}
