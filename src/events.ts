// eventLog: each node's timeline, and the only code with SQL on `events`. Every
// observation (DHCP exchange, file served, callback) and every state change is a
// row. Who writes which event is fixed: the lifecycle writes observations and
// transitions (src/lifecycle/lifecycle.ts), the Kubernetes side its kube.* events.
import type { Db, Migration } from './db.js';

export interface NodeEvent {
  id: number;
  nodeId: number;
  ts: number;
  /** e.g. dhcp.offer, tftp.sent, http.sent, callback, state */
  type: string;
  /** the subsystem that saw it: dhcp, tftp, http, api, lifecycle */
  source: string;
  data: Record<string, unknown>;
}

export const eventMigrations: Migration[] = [
  {
    // Made by 001-inventory in databases created before this migration existed.
    id: 'events-001',
    up: `
      CREATE TABLE IF NOT EXISTS events (
        id      INTEGER PRIMARY KEY,
        node_id INTEGER REFERENCES nodes(id) ON DELETE CASCADE,
        ts      INTEGER NOT NULL,
        type    TEXT NOT NULL,
        source  TEXT NOT NULL,
        data    TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX IF NOT EXISTS events_node ON events(node_id, id);
    `,
  },
];

const COLUMNS = 'id, node_id, ts, type, source, data';

export class EventLog {
  private readonly insert;
  private readonly trim;

  /** @param maxPerNode oldest events beyond this many per node are dropped */
  constructor(
    private readonly db: Db,
    private readonly maxPerNode = 5000,
  ) {
    this.insert = db.prepare('INSERT INTO events (node_id, ts, type, source, data) VALUES (?, ?, ?, ?, ?)');
    this.trim = db.prepare(
      `DELETE FROM events WHERE node_id = ?
       AND id < (SELECT id FROM events WHERE node_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
    );
  }

  record(nodeId: number, type: string, source: string, data: Record<string, unknown> = {}, ts = Date.now()): NodeEvent {
    const info = this.insert.run(nodeId, ts, type, source, JSON.stringify(data));
    const id = Number(info.lastInsertRowid);
    // Trimming every insert would cost a lookup each time; every 64th keeps the bound loose but cheap.
    if (id % 64 === 0) this.trim.run(nodeId, nodeId, this.maxPerNode - 1);
    return { id, nodeId, ts, type, source, data };
  }

  /** A discovered placeholder was adopted by a real node: its timeline becomes that node's. */
  moveTimeline(fromNodeId: number, toNodeId: number): void {
    this.db.prepare('UPDATE events SET node_id = ? WHERE node_id = ?').run(toNodeId, fromNodeId);
  }

  /** A node's latest `limit` events, oldest first. */
  latest(nodeId: number, limit: number): NodeEvent[] {
    const rows = this.db
      .prepare(`SELECT ${COLUMNS} FROM events WHERE node_id = ? ORDER BY id DESC LIMIT ?`)
      .all(nodeId, limit) as EventRow[];
    return rows.reverse().map(toEvent);
  }

  /** A node's latest event of one type. */
  lastOf(nodeId: number, type: string): NodeEvent | undefined {
    const row = this.db
      .prepare(`SELECT ${COLUMNS} FROM events WHERE node_id = ? AND type = ? ORDER BY id DESC LIMIT 1`)
      .get(nodeId, type) as EventRow | undefined;
    return row && toEvent(row);
  }

  /** Events of one type across all nodes after `afterId`, oldest first (SSE resume). */
  since(afterId: number, type: string, limit = 1000): NodeEvent[] {
    const rows = this.db
      .prepare(`SELECT ${COLUMNS} FROM events WHERE id > ? AND type = ? ORDER BY id LIMIT ?`)
      .all(afterId, type, limit) as EventRow[];
    return rows.map(toEvent);
  }

  /** A node's events, oldest first; `afterId` pages forward. */
  list(nodeId: number, opts: { limit?: number; afterId?: number; type?: string } = {}): NodeEvent[] {
    const byType = opts.type ? 'AND type = ?' : '';
    const rows = this.db
      .prepare(`SELECT ${COLUMNS} FROM events WHERE node_id = ? AND id > ? ${byType} ORDER BY id LIMIT ?`)
      .all(...[nodeId, opts.afterId ?? 0, ...(opts.type ? [opts.type] : []), opts.limit ?? 500]) as EventRow[];
    return rows.map(toEvent);
  }
}

interface EventRow {
  id: number;
  node_id: number;
  ts: number;
  type: string;
  source: string;
  data: string;
}

const toEvent = (r: EventRow): NodeEvent => ({
  id: r.id,
  nodeId: r.node_id,
  ts: r.ts,
  type: r.type,
  source: r.source,
  data: JSON.parse(r.data),
});
