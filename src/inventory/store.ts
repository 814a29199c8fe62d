// nodeStore: the one place with SQL on nodes, node_macs and profiles (state
// changes excepted: progress.ts, which only the lifecycle uses).
//
// Ownership: a node or profile is owned by the inventory files ('file'), by the API
// ('api', including `rackjoin import`), or was seen on the wire ('discovered').
// File reloads replace only file-owned records; API records survive reloads and
// restarts; a file never silently takes over an API record (that is a conflict the
// operator resolves). Discovered nodes are adopted when a file or API node claims
// their MAC: the timeline moves over, the placeholder goes.
import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../db.js';
import type { EventLog } from '../events.js';
import { normalizeMac } from '../mac.js';
import type { Bmc, NodePatch, NodeSpec, Profile } from './schema.js';
import type { NodeState } from './states.js';

export type NodeSource = 'file' | 'api' | 'discovered';

export interface Node {
  id: number;
  name: string;
  macs: string[];
  ip: string | null;
  profile: string | null;
  labels: Record<string, string>;
  /** Installer template variables for this node (over the profile's). */
  vars: Record<string, string>;
  bmc: Bmc | null;
  loaderFile: string | null;
  localBoot: Profile['localBoot'] | null;
  source: NodeSource;
  sourceFile: string | null;
  state: NodeState;
  stateSince: number;
  /** When each state was last entered (ms since epoch). */
  stages: Partial<Record<NodeState, number>>;
  netboot: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface StoredProfile {
  profile: Profile;
  source: 'file' | 'api';
  sourceFile: string | null;
}

/** A profile row as stored: the spec still serialised, for change detection. */
export interface ProfileRow {
  spec: string;
  source: 'file' | 'api';
  sourceFile: string | null;
}

export type InventoryErrorCode = 'not_found' | 'conflict' | 'invalid';

export class InventoryError extends Error {
  constructor(
    readonly code: InventoryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'InventoryError';
  }
}

export interface NodeFilter {
  state?: NodeState;
  labels?: Record<string, string>;
}

interface NodeRow {
  id: number;
  name: string;
  profile: string | null;
  ip: string | null;
  labels: string;
  vars: string;
  bmc: string | null;
  loader_file: string | null;
  local_boot: string | null;
  source: NodeSource;
  source_file: string | null;
  state: NodeState;
  state_since: number;
  stages: string;
  netboot: number;
  created_at: number;
  updated_at: number;
  macs: string | null;
}

const NODE_MACS = `(SELECT group_concat(mac, ',')
  FROM (SELECT mac FROM node_macs m WHERE m.node_id = n.id ORDER BY position))`;
const NODE_SELECT = `SELECT n.*, ${NODE_MACS} AS macs FROM nodes n`;

/** The name a MAC gets when it is first seen PXE-booting. */
function discoveredName(mac: string): string {
  return `discovered-${mac.replace(/:/g, '')}`;
}

export function newNodeToken(): string {
  return randomBytes(24).toString('base64url');
}

function toNode(row: NodeRow): Node {
  return {
    id: row.id,
    name: row.name,
    macs: row.macs ? row.macs.split(',') : [],
    ip: row.ip,
    profile: row.profile,
    labels: JSON.parse(row.labels),
    vars: JSON.parse(row.vars),
    bmc: row.bmc ? JSON.parse(row.bmc) : null,
    loaderFile: row.loader_file,
    localBoot: row.local_boot as Node['localBoot'],
    source: row.source,
    sourceFile: row.source_file,
    state: row.state,
    stateSince: row.state_since,
    stages: JSON.parse(row.stages),
    netboot: row.netboot === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Normalise and de-duplicate a spec's MACs; throws 'invalid' on a bad one. */
export function normalizeMacs(macs: string[], owner: string): string[] {
  const out: string[] = [];
  for (const m of macs) {
    const n = normalizeMac(m);
    if (!n) throw new InventoryError('invalid', `node ${owner}: "${m}" is not a MAC address`);
    if (out.includes(n)) throw new InventoryError('invalid', `node ${owner}: MAC ${n} is listed twice`);
    out.push(n);
  }
  return out;
}

export function describeOwner(node: Pick<Node, 'name' | 'source' | 'sourceFile'>): string {
  if (node.source === 'file') return `node ${node.name} (${node.sourceFile ?? 'inventory file'})`;
  if (node.source === 'discovered') return `discovered node ${node.name}`;
  return `node ${node.name} (created via the API)`;
}

export class NodeStore {
  private readGeneration: Statement | undefined;

  /** `timelines`: where a discovered placeholder's events move when a real node adopts its MAC. */
  constructor(
    private readonly db: Db,
    private readonly timelines: Pick<EventLog, 'moveTimeline'>,
  ) {}

  /**
   * Runs `fn` in one transaction (nested calls join the outer one as savepoints).
   * IMMEDIATE: a deferred one that read first and then writes fails at once with
   * SQLITE_BUSY (no busy wait) when another connection to the file (another
   * process) committed in between.
   */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  // ---- reads -------------------------------------------------------------

  list(filter: NodeFilter = {}): Node[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state) {
      where.push('n.state = ?');
      args.push(filter.state);
    }
    for (const [k, v] of Object.entries(filter.labels ?? {})) {
      where.push('json_extract(n.labels, ?) = ?');
      args.push(`$."${k.replace(/"/g, '')}"`, v);
    }
    const sql = `${NODE_SELECT}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY n.name`;
    return (this.db.prepare(sql).all(...args) as NodeRow[]).map(toNode);
  }

  /** A node by name or by any of its MACs (any spelling). */
  get(id: string): Node | undefined {
    const mac = normalizeMac(id);
    if (mac) return this.findByMac(mac);
    const row = this.db.prepare(`${NODE_SELECT} WHERE n.name = ?`).get(id) as NodeRow | undefined;
    return row && toNode(row);
  }

  mustGet(id: string): Node {
    const node = this.get(id);
    if (!node) throw new InventoryError('not_found', `no node with name or MAC "${id}"`);
    return node;
  }

  byId(id: number): Node | undefined {
    const row = this.db.prepare(`${NODE_SELECT} WHERE n.id = ?`).get(id) as NodeRow | undefined;
    return row && toNode(row);
  }

  findByMac(mac: string): Node | undefined {
    const row = this.db
      .prepare(`${NODE_SELECT} WHERE n.id = (SELECT node_id FROM node_macs WHERE mac = ?)`)
      .get(mac) as NodeRow | undefined;
    return row && toNode(row);
  }

  /** The node an IP is reserved for. */
  findByIp(ip: string): Node | undefined {
    const row = this.db.prepare(`${NODE_SELECT} WHERE n.ip = ?`).get(ip) as NodeRow | undefined;
    return row && toNode(row);
  }

  /** The node a per-node secret belongs to. */
  findByToken(token: string): Node | undefined {
    const row = this.db.prepare(`${NODE_SELECT} WHERE n.token = ?`).get(token) as NodeRow | undefined;
    return row && toNode(row);
  }

  /** The node's secret; never part of Node so it cannot leak through list/get/log. */
  tokenOf(nodeId: number): string {
    return this.db.prepare('SELECT token FROM nodes WHERE id = ?').pluck().get(nodeId) as string;
  }

  countByState(): Record<string, number> {
    const rows = this.db.prepare('SELECT state, count(*) AS n FROM nodes GROUP BY state').all() as {
      state: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  listProfiles(): StoredProfile[] {
    const rows = this.db.prepare('SELECT spec, source, source_file FROM profiles ORDER BY name').all() as {
      spec: string;
      source: 'file' | 'api';
      source_file: string | null;
    }[];
    return rows.map((r) => ({ profile: JSON.parse(r.spec), source: r.source, sourceFile: r.source_file }));
  }

  getProfile(name: string): Profile | undefined {
    const spec = this.db.prepare('SELECT spec FROM profiles WHERE name = ?').pluck().get(name) as string | undefined;
    return spec ? JSON.parse(spec) : undefined;
  }

  /** The node's profile; null when it has none. */
  profileOf(node: Pick<Node, 'profile'>): Profile | null {
    return node.profile ? (this.getProfile(node.profile) ?? null) : null;
  }

  /** Bumped by triggers (inventory-002) on every change to MACs and reserved addresses. */
  generation(): number {
    // Read once per event-loop turn by the DHCP fast path: prepared once.
    this.readGeneration ??= this.db.prepare('SELECT n FROM inventory_generation').pluck();
    return this.readGeneration.get() as number;
  }

  /** Every MAC that belongs to a node. */
  allMacs(): string[] {
    return this.db.prepare('SELECT mac FROM node_macs').pluck().all() as string[];
  }

  /** Every reserved address with the node that holds it. */
  reservations(): { id: number; ip: string }[] {
    return this.db.prepare('SELECT id, ip FROM nodes WHERE ip IS NOT NULL').all() as { id: number; ip: string }[];
  }

  /** Node names by MAC, for the MACs given that belong to a node. */
  namesByMac(macs: string[]): Map<string, string> {
    const byMac = this.db.prepare('SELECT n.name FROM node_macs m JOIN nodes n ON n.id = m.node_id WHERE m.mac = ?');
    const out = new Map<string, string>();
    for (const mac of new Set(macs)) {
      const name = byMac.pluck().get(mac) as string | undefined;
      if (name) out.set(mac, name);
    }
    return out;
  }

  // ---- writes through the API ---------------------------------------------

  create(spec: NodeSpec): Node {
    return this.db.transaction(() => {
      if (this.get(spec.name)) throw new InventoryError('conflict', `a node named ${spec.name} already exists`);
      const id = this.insertNode(spec, 'api', null);
      return this.byId(id)!;
    })();
  }

  patch(idOrName: string, patch: NodePatch): Node {
    return this.db.transaction(() => {
      const node = this.mustGet(idOrName);
      if (node.source === 'file') {
        throw new InventoryError(
          'conflict',
          `${describeOwner(node)} is managed by its inventory file: edit the file and reload`,
        );
      }
      const spec: NodeSpec = {
        name: node.name,
        macs: patch.macs ?? node.macs,
        ...optional('ip', patch.ip === undefined ? node.ip : patch.ip),
        ...optional('profile', patch.profile === undefined ? node.profile : patch.profile),
        labels: patch.labels ?? node.labels,
        vars: patch.vars ?? node.vars,
        ...optional('bmc', patch.bmc === undefined ? node.bmc : patch.bmc),
        ...optional('loaderFile', patch.loaderFile === undefined ? node.loaderFile : patch.loaderFile),
        ...optional('localBoot', patch.localBoot === undefined ? node.localBoot : patch.localBoot),
      };
      // An operator giving a discovered machine a profile enrols it; the lifecycle
      // (Lifecycle.edit, the only caller) moves it to registered in the same transaction.
      const source: NodeSource = node.source === 'discovered' && spec.profile ? 'api' : node.source;
      this.updateNode(node.id, spec, source, null);
      return this.byId(node.id)!;
    })();
  }

  delete(idOrName: string): Node {
    return this.db.transaction(() => {
      const node = this.mustGet(idOrName);
      if (node.source === 'file') {
        throw new InventoryError(
          'conflict',
          `${describeOwner(node)} is managed by its inventory file: remove it there and reload`,
        );
      }
      this.removeNode(node.id);
      return node;
    })();
  }

  /** An unknown MAC PXE-booted: keep a record of it (idempotent), never install it. */
  recordDiscovered(mac: string): Node {
    const existing = this.findByMac(mac);
    if (existing) return existing;
    return this.db.transaction(() => {
      const id = this.insertNode({ name: discoveredName(mac), macs: [mac] }, 'discovered', null);
      return this.byId(id)!;
    })();
  }

  // ---- writes shared with the inventory sync ----------------------------------

  /** Insert a node, adopting discovered placeholders of its MACs; throws on conflicts. */
  insertNode(spec: NodeSpec, source: NodeSource, sourceFile: string | null): number {
    const macs = normalizeMacs(spec.macs, spec.name);
    this.checkProfile(spec);
    const now = Date.now();
    const state: NodeState = source === 'discovered' ? 'discovered' : 'registered';
    const info = this.db
      .prepare(
        `INSERT INTO nodes (name, profile, labels, vars, bmc, loader_file, local_boot, source, source_file,
           state, state_since, stages, netboot, token, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
      )
      .run(
        spec.name,
        ...specColumns(spec),
        source,
        sourceFile,
        state,
        now,
        JSON.stringify({ [state]: now }),
        newNodeToken(),
        now,
        now,
      );
    const id = Number(info.lastInsertRowid);
    this.claimIp(id, spec.name, spec.ip ?? null);
    this.claimMacs(id, spec.name, macs);
    return id;
  }

  updateNode(id: number, spec: NodeSpec, source: NodeSource, sourceFile: string | null): void {
    const macs = normalizeMacs(spec.macs, spec.name);
    this.checkProfile(spec);
    this.db
      .prepare(
        `UPDATE nodes SET profile = ?, labels = ?, vars = ?, bmc = ?, loader_file = ?, local_boot = ?, source = ?,
           source_file = ?, updated_at = ? WHERE id = ?`,
      )
      .run(...specColumns(spec), source, sourceFile, Date.now(), id);
    this.claimIp(id, spec.name, spec.ip ?? null);
    this.db.prepare('DELETE FROM node_macs WHERE node_id = ?').run(id);
    this.claimMacs(id, spec.name, macs);
  }

  removeNode(id: number): void {
    this.db.prepare('DELETE FROM nodes WHERE id = ?').run(id);
  }

  profileRow(name: string): ProfileRow | undefined {
    const row = this.db.prepare('SELECT spec, source, source_file FROM profiles WHERE name = ?').get(name) as
      { spec: string; source: 'file' | 'api'; source_file: string | null } | undefined;
    return row && { spec: row.spec, source: row.source, sourceFile: row.source_file };
  }

  insertProfile(profile: Profile, source: 'file' | 'api', sourceFile: string | null, at = Date.now()): void {
    this.db
      .prepare(
        'INSERT INTO profiles (name, spec, source, source_file, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(profile.name, JSON.stringify(profile), source, sourceFile, at, at);
  }

  updateProfile(profile: Profile, sourceFile: string | null, at = Date.now()): void {
    this.db
      .prepare('UPDATE profiles SET spec = ?, source_file = ?, updated_at = ? WHERE name = ?')
      .run(JSON.stringify(profile), sourceFile, at, profile.name);
  }

  /** Names of the profiles the inventory files own. */
  fileProfileNames(): string[] {
    return this.db.prepare(`SELECT name FROM profiles WHERE source = 'file'`).pluck().all() as string[];
  }

  deleteProfile(name: string): void {
    this.db.prepare('DELETE FROM profiles WHERE name = ?').run(name);
  }

  private checkProfile(spec: NodeSpec): void {
    if (spec.profile && !this.getProfile(spec.profile)) {
      throw new InventoryError('invalid', `node ${spec.name}: profile ${spec.profile} does not exist`);
    }
  }

  private claimIp(id: number, name: string, ip: string | null): void {
    if (ip) {
      const other = this.db.prepare(`${NODE_SELECT} WHERE n.ip = ? AND n.id != ?`).get(ip, id) as NodeRow | undefined;
      if (other)
        throw new InventoryError(
          'conflict',
          `node ${name}: IP ${ip} is already reserved for ${describeOwner(toNode(other))}`,
        );
    }
    this.db.prepare('UPDATE nodes SET ip = ? WHERE id = ?').run(ip, id);
  }

  private claimMacs(id: number, name: string, macs: string[]): void {
    const insert = this.db.prepare('INSERT INTO node_macs (mac, node_id, position) VALUES (?, ?, ?)');
    macs.forEach((mac, position) => {
      const owner = this.findByMac(mac);
      if (owner && owner.id !== id) {
        if (owner.source !== 'discovered') {
          throw new InventoryError('conflict', `node ${name}: MAC ${mac} already belongs to ${describeOwner(owner)}`);
        }
        this.adopt(owner, id);
      }
      insert.run(mac, id, position);
    });
  }

  /** A discovered placeholder becomes part of a real node: its timeline moves, the row goes. */
  private adopt(placeholder: Node, into: number): void {
    this.timelines.moveTimeline(placeholder.id, into);
    this.removeNode(placeholder.id);
  }
}

/** profile, labels, vars, bmc, loader_file, local_boot: the spec fields both INSERT and UPDATE write, in that order. */
function specColumns(spec: NodeSpec): [string | null, string, string, string | null, string | null, string | null] {
  return [
    spec.profile ?? null,
    JSON.stringify(spec.labels ?? {}),
    JSON.stringify(spec.vars ?? {}),
    spec.bmc ? JSON.stringify(spec.bmc) : null,
    spec.loaderFile ?? null,
    spec.localBoot ?? null,
  ];
}

function optional<K extends string, V>(key: K, value: V | null | undefined): { [P in K]?: V } {
  return (value === null || value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
