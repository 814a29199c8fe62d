// The inventory as the daemon uses it: the directory on start, SIGHUP and
// POST /inventory/reload; YAML documents from `rackjoin import`.
import { errorsOf, formatFinding, SiteCheckError, warningsOf, type Finding } from '../findings.js';
import type { Db } from '../db.js';
import type { EventLog } from '../events.js';
import type { Logger } from '../log.js';
import { readInventoryDir, type InventorySource } from './files.js';
import { NodeStore } from './store.js';
import { importInventory, reloadFiles, type SyncSummary } from './sync.js';

/** The site check's inventory half (src/check/inventory.ts), bound to the daemon's config. */
export type InventoryCheck = (sources: InventorySource[], store: NodeStore) => Finding[];

export class Inventory {
  readonly nodes: NodeStore;
  /** The warnings of the inventory last loaded, for the views of the nodes they concern. */
  private warnings: Finding[] = [];

  constructor(
    db: Db,
    events: Pick<EventLog, 'moveTimeline'>,
    private readonly dir: string,
    private readonly log: Logger,
    private readonly check: InventoryCheck,
  ) {
    this.nodes = new NodeStore(db, events);
  }

  /** Re-read the inventory directory. Throws, with the database untouched, on any problem. */
  reload(): SyncSummary {
    try {
      const sources = readInventoryDir(this.dir);
      const findings = this.checked(sources, 'inventory reload');
      const summary = reloadFiles(this.nodes, sources);
      this.warnings = findings;
      this.log.info({ dir: this.dir, ...compact(summary) }, 'inventory loaded');
      return summary;
    } catch (err) {
      this.log.error({ dir: this.dir, err: (err as Error).message }, 'inventory refused; database unchanged');
      throw err;
    }
  }

  import(sources: InventorySource[]): SyncSummary {
    this.checked(sources, 'inventory import');
    const summary = importInventory(this.nodes, sources);
    this.log.info({ files: sources.map((s) => s.file), ...compact(summary) }, 'inventory imported');
    return summary;
  }

  /** The loaded inventory's warnings about `node` or its profile. */
  warningsFor(node: { name: string; profile: string | null }): string[] {
    return this.warnings
      .filter((f) => f.node === node.name || (f.profile && f.profile === node.profile))
      .map(formatFinding);
  }

  /** The check's warnings, logged; its errors refuse `what`. */
  private checked(sources: InventorySource[], what: string): Finding[] {
    const findings = this.check(sources, this.nodes);
    if (errorsOf(findings).length > 0) throw new SiteCheckError(findings, what);
    const warnings = warningsOf(findings);
    for (const w of warnings) this.log.warn({ where: w.where }, w.message);
    return warnings;
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
