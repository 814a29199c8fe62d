// The SQLite database: one file in dataDir, WAL, migrations applied once each.
// Feature modules (inventory, leases, events) bring their own migrations; ids are
// unique strings so modules never fight over a shared version counter.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type Db = Database.Database;

export interface Migration {
  /** Stable, unique, never renamed once shipped: '001-inventory', 'dhcp-001-leases'. */
  id: string;
  up: string | ((db: Db) => void);
}

export function openDatabase(dataDir: string, migrations: Migration[], file = 'rackjoin.db'): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(join(dataDir, file));
  db.pragma('journal_mode = WAL');
  // FULL: a lease or state change the daemon acknowledged survives power loss, not only a crash.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, migrations);
  return db;
}

export function migrate(db: Db, migrations: Migration[]): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    id TEXT PRIMARY KEY,
    applied_at INTEGER NOT NULL
  )`);
  const done = new Set(db.prepare('SELECT id FROM schema_migrations').pluck().all() as string[]);
  const ids = new Set<string>();
  const applied: string[] = [];
  for (const m of migrations) {
    if (ids.has(m.id)) throw new Error(`migration id ${m.id} is listed twice`);
    ids.add(m.id);
    if (done.has(m.id)) continue;
    db.transaction(() => {
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
      db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)').run(m.id, Date.now());
    })();
    applied.push(m.id);
  }
  return applied;
}

/** Flush the WAL into the main file; called on shutdown so the .db alone is complete. */
export function closeDatabase(db: Db): void {
  if (!db.open) return;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}
