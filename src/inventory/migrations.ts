// The inventory's tables. Ids never change once shipped (db.ts applies each once).
import type { Migration } from '../db.js';

export const inventoryMigrations: Migration[] = [
  {
    // Shipped with the events table too; that table now comes from events.ts
    // (events-001, IF NOT EXISTS), so databases made before the split keep theirs.
    id: '001-inventory',
    up: `
      CREATE TABLE profiles (
        name        TEXT PRIMARY KEY,
        spec        TEXT NOT NULL,              -- validated profile, JSON
        source      TEXT NOT NULL,              -- 'file' | 'api'
        source_file TEXT,                       -- inventory file that defines it (source = 'file')
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      );
      CREATE TABLE nodes (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        profile     TEXT,
        ip          TEXT UNIQUE,
        labels      TEXT NOT NULL DEFAULT '{}',
        bmc         TEXT,
        loader_file TEXT,
        local_boot  TEXT,
        source      TEXT NOT NULL,              -- 'file' | 'api' | 'discovered'
        source_file TEXT,
        state       TEXT NOT NULL,
        state_since INTEGER NOT NULL,
        stages      TEXT NOT NULL DEFAULT '{}', -- state -> ms when last entered
        netboot     INTEGER NOT NULL DEFAULT 1, -- 0 once installed: PXE gets "boot from disk"
        token       TEXT NOT NULL UNIQUE,       -- per-node secret for node-facing URLs
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      );
      CREATE TABLE node_macs (
        mac      TEXT PRIMARY KEY,
        node_id  INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
        position INTEGER NOT NULL
      );
      CREATE INDEX node_macs_node ON node_macs(node_id);
    `,
  },
  {
    // A counter bumped on every change to MACs and reserved addresses, so the DHCP
    // fast path can keep them in memory (addressBook.ts) and rebuild only when it moved.
    id: 'inventory-002-generation',
    up: `
      CREATE TABLE inventory_generation (n INTEGER NOT NULL);
      INSERT INTO inventory_generation (n) VALUES (0);
      CREATE TRIGGER inventory_gen_mac_ins AFTER INSERT ON node_macs
        BEGIN UPDATE inventory_generation SET n = n + 1; END;
      CREATE TRIGGER inventory_gen_mac_del AFTER DELETE ON node_macs
        BEGIN UPDATE inventory_generation SET n = n + 1; END;
      CREATE TRIGGER inventory_gen_mac_upd AFTER UPDATE ON node_macs
        BEGIN UPDATE inventory_generation SET n = n + 1; END;
      CREATE TRIGGER inventory_gen_node_ip AFTER UPDATE OF ip ON nodes
        BEGIN UPDATE inventory_generation SET n = n + 1; END;
      CREATE TRIGGER inventory_gen_node_ins AFTER INSERT ON nodes
        BEGIN UPDATE inventory_generation SET n = n + 1; END;
      CREATE TRIGGER inventory_gen_node_del AFTER DELETE ON nodes
        BEGIN UPDATE inventory_generation SET n = n + 1; END;
    `,
  },
  {
    // Installer template variables per node (they override the profile's).
    id: 'inventory-003-node-vars',
    up: `ALTER TABLE nodes ADD COLUMN vars TEXT NOT NULL DEFAULT '{}';`,
  },
];
