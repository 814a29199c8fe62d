// The inventory as the daemon uses it: the directory on start, SIGHUP and
// POST /inventory/reload; YAML documents from `rackjoin import`.
import type { Db } from '../db.js';
import type { EventLog } from '../events.js';
import type { Logger } from '../log.js';
import { readInventoryDir, type InventorySource } from './files.js';
import { NodeStore } from './store.js';
import { importInventory, reloadFiles, type SyncSummary } from './sync.js';

export class Inventory {
  readonly nodes: NodeStore;

  constructor(
    db: Db,
    events: Pick<EventLog, 'moveTimeline'>,
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    this.nodes = new NodeStore(db, events);
  }

  /** Re-read the inventory directory. Throws, with the database untouched, on any problem. */
  reload(): SyncSummary {
    try {
      const summary = reloadFiles(this.nodes, readInventoryDir(this.dir));
      this.log.info({ dir: this.dir, ...compact(summary) }, 'inventory loaded');
      return summary;
    } catch (err) {
      this.log.error({ dir: this.dir, err: (err as Error).message }, 'inventory refused; database unchanged');
      throw err;
    }
  }

  import(sources: InventorySource[]): SyncSummary {
    const summary = importInventory(this.nodes, sources);
    this.log.info({ files: sources.map((s) => s.file), ...compact(summary) }, 'inventory imported');
    return summary;
  }
}

/** Counts for the log line; names only where something changed. */
function compact(s: SyncSummary): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kind of ['profiles', 'nodes'] as const) {
    for (const [what, names] of Object.entries(s[kind])) if (names.length) out[`${kind}_${what}`] = names;
  }
  return out;
}
