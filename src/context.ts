// Everything the daemon's parts share, built once from the config.
import type { Config } from './config.js';
import { closeDatabase, openDatabase, type Db, type Migration } from './db.js';
import { EventLog } from './events.js';
import { Inventory } from './inventory/index.js';
import { inventoryMigrations } from './inventory/migrations.js';
import type { NodeStore } from './inventory/store.js';
import type { Logger } from './log.js';
import { loadApiTokens, type ApiTokens } from './api/tokens.js';

export interface AppContext {
  config: Config;
  log: Logger;
  db: Db;
  inventory: Inventory;
  nodes: NodeStore;
  events: EventLog;
  tokens: ApiTokens;
}

/** Every feature's migrations, in the order they first shipped. */
export const MIGRATIONS: Migration[] = [...inventoryMigrations];

export function createContext(config: Config, log: Logger): AppContext {
  const db = openDatabase(config.dataDir, MIGRATIONS);
  try {
    const inventory = new Inventory(db, config.inventory, log.child({ mod: 'inventory' }));
    return {
      config,
      log,
      db,
      inventory,
      nodes: inventory.nodes,
      events: new EventLog(db),
      tokens: loadApiTokens(config, log),
    };
  } catch (err) {
    closeDatabase(db);
    throw err;
  }
}
