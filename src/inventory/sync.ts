// Applying inventory documents to the database, all-or-nothing.
//
// reloadFiles: the inventory directory is the truth for file-owned records: they
//   are added, updated and removed to match; API and discovered records are kept.
// importInventory: `rackjoin import` / POST /inventory/import: YAML brought in once,
//   owned by the API from then on; nothing is removed.
import type { InventorySource } from './files.js';
import type { NodeSpec, Profile } from './schema.js';
import { describeOwner, InventoryError, normalizeMacs, type Node, type NodeSource, type NodeStore } from './store.js';

export interface SyncSummary {
  profiles: { added: string[]; updated: string[]; removed: string[] };
  nodes: { added: string[]; updated: string[]; removed: string[]; adopted: string[] };
}

interface Located<T> {
  value: T;
  where: string; // file:line
}

function emptySummary(): SyncSummary {
  return {
    profiles: { added: [], updated: [], removed: [] },
    nodes: { added: [], updated: [], removed: [], adopted: [] },
  };
}

/** Merge several files, refusing names, MACs and IPs defined twice. */
function merge(sources: InventorySource[]): { profiles: Located<Profile>[]; nodes: Located<NodeSpec>[] } {
  const profiles = new Map<string, Located<Profile>>();
  const nodes = new Map<string, Located<NodeSpec>>();
  const macs = new Map<string, Located<NodeSpec>>();
  const ips = new Map<string, Located<NodeSpec>>();
  for (const src of sources) {
    src.inventory.profiles.forEach((p, i) => {
      const here = { value: p, where: `${src.file}:${src.lines.profiles[i] ?? '?'}` };
      const prev = profiles.get(p.name);
      if (prev)
        throw new InventoryError('conflict', `profile ${p.name} is defined twice: ${prev.where} and ${here.where}`);
      profiles.set(p.name, here);
    });
    src.inventory.nodes.forEach((n, i) => {
      const here = { value: n, where: `${src.file}:${src.lines.nodes[i] ?? '?'}` };
      const prev = nodes.get(n.name);
      if (prev)
        throw new InventoryError('conflict', `node ${n.name} is defined twice: ${prev.where} and ${here.where}`);
      nodes.set(n.name, here);
      let normal: string[];
      try {
        normal = normalizeMacs(n.macs, n.name);
      } catch (err) {
        throw new InventoryError('invalid', `${here.where}: ${(err as Error).message}`);
      }
      for (const mac of normal) {
        const other = macs.get(mac);
        if (other) {
          throw new InventoryError(
            'conflict',
            `MAC ${mac} is claimed by node ${other.value.name} (${other.where}) and node ${n.name} (${here.where})`,
          );
        }
        macs.set(mac, here);
      }
      if (n.ip) {
        const other = ips.get(n.ip);
        if (other) {
          throw new InventoryError(
            'conflict',
            `IP ${n.ip} is reserved for node ${other.value.name} (${other.where}) and node ${n.name} (${here.where})`,
          );
        }
        ips.set(n.ip, here);
      }
    });
  }
  return { profiles: [...profiles.values()], nodes: [...nodes.values()] };
}

function fileOf(where: string): string {
  return where.replace(/:[^:]*$/, '');
}

/** Make the file-owned part of the database match `sources`. Throws (and changes nothing) on any problem. */
export function reloadFiles(store: NodeStore, sources: InventorySource[]): SyncSummary {
  const merged = merge(sources);
  const summary = emptySummary();
  store.transaction(() => {
    upsertProfiles(store, merged.profiles, 'file', summary);
    // Nodes first leave (so a MAC can move between file nodes), then the rest are written.
    const wanted = new Set(merged.nodes.map((n) => n.value.name));
    for (const node of store.list()) {
      if (node.source === 'file' && !wanted.has(node.name)) {
        store.removeNode(node.id);
        summary.nodes.removed.push(node.name);
      }
    }
    upsertNodes(store, merged.nodes, 'file', summary);
    removeStaleProfiles(store, new Set(merged.profiles.map((p) => p.value.name)), summary);
  });
  return summary;
}

/** File profiles no longer in the files go, unless a node still uses one (then nothing changes). */
function removeStaleProfiles(store: NodeStore, keep: Set<string>, summary: SyncSummary): void {
  for (const name of store.fileProfileNames().filter((n) => !keep.has(n))) {
    const users = store.list().filter((n) => n.profile === name);
    if (users.length > 0) {
      const names = users.map((u) => describeOwner(u)).join(', ');
      throw new InventoryError(
        'conflict',
        `profile ${name} is no longer in the inventory files but ${names} still use it`,
      );
    }
    store.deleteProfile(name);
    summary.profiles.removed.push(name);
  }
}

/** Bring YAML documents in as API-owned records (create or update, never delete). */
export function importInventory(store: NodeStore, sources: InventorySource[]): SyncSummary {
  const merged = merge(sources);
  const summary = emptySummary();
  store.transaction(() => {
    upsertProfiles(store, merged.profiles, 'api', summary);
    upsertNodes(store, merged.nodes, 'api', summary);
  });
  return summary;
}

function upsertProfiles(store: NodeStore, profiles: Located<Profile>[], source: 'file' | 'api', summary: SyncSummary) {
  for (const { value: p, where } of profiles) {
    const existing = store.profileRow(p.name);
    const file = source === 'file' ? fileOf(where) : null;
    if (!existing) {
      store.insertProfile(p, source, file);
      summary.profiles.added.push(p.name);
      continue;
    }
    if (existing.source !== source) {
      const owner = existing.source === 'file' ? `inventory file ${existing.sourceFile}` : 'the API (rackjoin import)';
      throw new InventoryError('conflict', `profile ${p.name} (${where}) is already managed by ${owner}`);
    }
    if (existing.spec !== JSON.stringify(p) || existing.sourceFile !== file) {
      store.updateProfile(p, file);
      summary.profiles.updated.push(p.name);
    }
  }
}

function upsertNodes(store: NodeStore, nodes: Located<NodeSpec>[], source: NodeSource, summary: SyncSummary): void {
  for (const { value: spec, where } of nodes) {
    const file = source === 'file' ? fileOf(where) : null;
    try {
      const existing = store.get(spec.name);
      if (!existing) {
        const before = new Set(
          spec.macs.map((m) => store.findByMac(normalizeMacs([m], spec.name)[0]!)?.name).filter(Boolean),
        );
        store.insertNode(spec, source, file);
        summary.nodes.added.push(spec.name);
        if (before.size > 0) summary.nodes.adopted.push(...([...before] as string[]));
        continue;
      }
      if (existing.source !== source) {
        throw new InventoryError('conflict', `a node with this name already exists: ${describeOwner(existing)}`);
      }
      if (!sameSpec(existing, spec, file)) {
        store.updateNode(existing.id, spec, source, file);
        summary.nodes.updated.push(spec.name);
      }
    } catch (err) {
      if (err instanceof InventoryError) throw new InventoryError(err.code, `${where}: ${err.message}`);
      throw err;
    }
  }
}

function sameSpec(node: Node, spec: NodeSpec, file: string | null): boolean {
  return (
    node.sourceFile === file &&
    JSON.stringify(node.macs) === JSON.stringify(normalizeMacs(spec.macs, spec.name)) &&
    node.ip === (spec.ip ?? null) &&
    node.profile === (spec.profile ?? null) &&
    JSON.stringify(node.labels) === JSON.stringify(spec.labels ?? {}) &&
    JSON.stringify(node.vars) === JSON.stringify(spec.vars ?? {}) &&
    JSON.stringify(node.bmc) === JSON.stringify(spec.bmc ?? null) &&
    node.loaderFile === (spec.loaderFile ?? null) &&
    node.localBoot === (spec.localBoot ?? null)
  );
}
