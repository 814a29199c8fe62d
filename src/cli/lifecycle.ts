// `rackjoin reimage` and `rackjoin watch`.
import { setTimeout as sleep } from 'node:timers/promises';
import type { NodeViewT } from '../api/views.js';
import type { TransitionMessage } from '../api/lifecycle.js';
import { apiClient, ApiClientError, type ApiClient } from './client.js';
import { age, table } from './table.js';

type Print = (s: string) => void;

interface ReimageResponse {
  node: NodeViewT;
  from: string;
  kubernetes: { managed: boolean; message: string };
  power: { requested: boolean; ok?: boolean; action?: string; message?: string };
}

export async function reimageNode(
  id: string,
  opts: { powerCycle: boolean; force: boolean; json: boolean },
  print: Print,
): Promise<void> {
  const r = await apiClient().request<ReimageResponse>('POST', `/api/v1/nodes/${encodeURIComponent(id)}/reimage`, {
    ...(opts.powerCycle ? { powerCycle: true } : {}),
    ...(opts.force ? { force: true } : {}),
  });
  if (opts.json) return print(JSON.stringify(r, null, 2));
  print(`${r.node.name}: armed for reimage (was ${r.from}); netboot on, new node token`);
  print(`kubernetes: ${r.kubernetes.message}`);
  print(`power: ${r.power.requested ? `${r.power.action} sent` : r.power.message}`);
}

/** Server-sent events, parsed: one callback per message with its id and data. */
async function readEvents(res: Response, onMessage: (id: string | null, data: string) => void): Promise<void> {
  if (!res.body) return;
  let buf = '';
  let id: string | null = null;
  let data: string[] = [];
  for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (data.length) onMessage(id, data.join('\n'));
        data = [];
      } else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      else if (line.startsWith('id:')) id = line.slice(3).trim();
    }
  }
}

interface Row {
  state: string;
  since: string;
}

/**
 * Live view: on a terminal the node table is redrawn at every transition with the
 * latest transitions below it; piped, the table is printed once and then one line
 * per transition. Reconnects (resuming after the last event id) until `signal` aborts.
 */
export async function watchNodes(
  opts: { signal: AbortSignal; tty: boolean },
  write: (s: string) => void,
): Promise<void> {
  const api = apiClient();
  const rows = new Map<string, Row>();
  const recent: string[] = [];
  const load = async (c: ApiClient) => {
    const { nodes } = await c.request<{ nodes: NodeViewT[] }>('GET', '/api/v1/nodes');
    rows.clear();
    for (const n of nodes) rows.set(n.name, { state: n.state, since: n.stateSince });
  };
  const render = () =>
    rows.size === 0
      ? 'no nodes'
      : table(
          ['NAME', 'STATE', 'AGE'],
          [...rows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, r]) => [name, r.state, age(r.since)]),
        );
  const redraw = () => write(`\x1b[H\x1b[2J${render()}\n\n${recent.join('\n')}\n`);

  await load(api);
  if (opts.tty) redraw();
  else write(`${render()}\n`);

  const cursor: { lastId: string | null } = { lastId: null };
  while (!opts.signal.aborted) {
    try {
      const res = await api.raw('/api/v1/events', {
        signal: opts.signal,
        headers: { accept: 'text/event-stream', ...(cursor.lastId ? { 'last-event-id': cursor.lastId } : {}) },
      });
      if (!res.ok) throw new ApiClientError(`${res.status} ${(await res.text()).slice(0, 200)}`);
      await readEvents(res, (id, data) => {
        if (id) cursor.lastId = id;
        const m = JSON.parse(data) as TransitionMessage;
        rows.set(m.node, { state: m.to, since: m.at });
        const line = `${m.at}  ${m.node}  ${m.from} -> ${m.to}  ${m.reason}`;
        if (opts.tty) {
          recent.push(line);
          if (recent.length > 10) recent.shift();
          redraw();
        } else {
          write(`${line}\n`);
        }
      });
    } catch (err) {
      if (opts.signal.aborted) return;
      if (err instanceof ApiClientError && /^4\d\d /.test(err.message)) throw err;
    }
    if (opts.signal.aborted) return;
    // Stream ended (daemon restart): wait a little, refresh the table, resume after the last event.
    await sleep(2000, undefined, { signal: opts.signal }).catch(() => undefined);
    await load(api).catch(() => undefined);
  }
}
