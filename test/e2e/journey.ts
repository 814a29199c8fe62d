// What the API says about one node's trip from power-on to `joined`: its state, the
// transitions recorded in its timeline since a given event, and how long each took.
import type { Rackjoin } from './rackjoin.js';

export const PATH_STATES = ['pxe', 'booting', 'installing', 'installed', 'joining', 'joined'] as const;

export interface TimelineEvent {
  id: number;
  ts: string;
  type: string;
  source: string;
  data: Record<string, any>;
}

export interface Journey {
  state: string;
  /** `to` of every state event after `afterId`, in order. */
  transitions: string[];
  /** Events after `afterId`. */
  events: TimelineEvent[];
  /** Epoch ms each state was entered (from the state events after `afterId`). */
  entered: Record<string, number>;
  lastEventId: number;
}

export async function journey(rj: Rackjoin, node: string, afterId = 0): Promise<Journey> {
  const n = await rj.api('GET', `/api/v1/nodes/${node}`);
  if (n.status !== 200) throw new Error(`GET /api/v1/nodes/${node}: ${n.status} ${JSON.stringify(n.body)}`);
  const events: TimelineEvent[] = [];
  let after = afterId;
  // Paged; bounded: a node's timeline holds at most a few thousand events.
  for (let page = 0; page < 50; page++) {
    const r = await rj.api('GET', `/api/v1/nodes/${node}/events?after=${after}&limit=500`);
    if (r.status !== 200) throw new Error(`GET /api/v1/nodes/${node}/events: ${r.status} ${JSON.stringify(r.body)}`);
    const batch = r.body.events as TimelineEvent[];
    events.push(...batch);
    if (batch.length < 500) break;
    after = batch[batch.length - 1]!.id;
  }
  const states = events.filter((e) => e.type === 'state');
  const entered: Record<string, number> = {};
  for (const e of states) entered[e.data.to as string] = Date.parse(e.ts);
  return {
    state: n.body.state,
    transitions: states.map((e) => e.data.to as string),
    events,
    entered,
    lastEventId: events.length ? events[events.length - 1]!.id : afterId,
  };
}

/** The highest event id of a node's timeline so far (to look only at what follows). */
export async function lastEventId(rj: Rackjoin, node: string): Promise<number> {
  return (await journey(rj, node)).lastEventId;
}

/** "pxe +2.3 s, booting +2.4 s, ..." relative to power-on. */
export function stageOffsets(j: Journey, poweredOnAt: number): string {
  return PATH_STATES.filter((s) => j.entered[s] !== undefined)
    .map((s) => `${s} +${((j.entered[s]! - poweredOnAt) / 1000).toFixed(1)}`)
    .join(', ');
}
