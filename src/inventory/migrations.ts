import type { Migration } from '../db.js';

export const inventoryMigrations: Migration[] = [
  {
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
      CREATE TABLE events (
        id      INTEGER PRIMARY KEY,
        node_id INTEGER REFERENCES nodes(id) ON DELETE CASCADE,
        ts      INTEGER NOT NULL,
        type    TEXT NOT NULL,
        source  TEXT NOT NULL,
        data    TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX events_node ON events(node_id, id);
    `,
  },
];
