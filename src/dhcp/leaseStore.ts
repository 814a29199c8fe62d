// Leases: who holds which address until when. The working set lives in memory
// (maps by address and by MAC, a free list per range) so a DORA costs no query;
// SQLite is the journal. Changes are queued; the server commits them once per turn
// of the event loop (commit.ts) and sends the ACKs of a batch only once that commit
// returned: a lease is on disk before its ACK leaves (group commit, one fsync for
// many ACKs).
//
// Offers are memory only: a crash forgets them, and the client's REQUEST then
// finds its address free and gets it, or a NAK if someone else took it first.
import type { Statement } from 'better-sqlite3';
import type { Db, Migration } from '../db.js';
import { intToIp, ipToInt } from '../ip.js';

export const leaseMigrations: Migration[] = [
  {
    id: 'dhcp-001-leases',
    up: `
      CREATE TABLE dhcp_leases (
        ip        TEXT PRIMARY KEY,          -- dotted quad
        mac       TEXT NOT NULL,             -- lower-case colon form (chaddr)
        state     TEXT NOT NULL,             -- 'bound' | 'declined' (quarantined after a DHCPDECLINE)
        subnet    TEXT NOT NULL,             -- cidr of the subnet it was leased in
        hostname  TEXT,
        starts    INTEGER NOT NULL,          -- ms since epoch
        expires   INTEGER NOT NULL           -- ms since epoch
      );
      CREATE INDEX dhcp_leases_mac ON dhcp_leases(mac);
    `,
  },
  {
    // dhcp-002 (no longer shipped) kept an inventory change counter with triggers on
    // the inventory's tables; the inventory keeps its own now (inventory-002).
    id: 'dhcp-003-drop-inventory-generation',
    up: `
      DROP TRIGGER IF EXISTS dhcp_gen_mac_ins;
      DROP TRIGGER IF EXISTS dhcp_gen_mac_del;
      DROP TRIGGER IF EXISTS dhcp_gen_mac_upd;
      DROP TRIGGER IF EXISTS dhcp_gen_node_ip;
      DROP TRIGGER IF EXISTS dhcp_gen_node_ins;
      DROP TRIGGER IF EXISTS dhcp_gen_node_del;
      DROP TABLE IF EXISTS dhcp_inventory_generation;
    `,
  },
  {
    // A commit (one per turn of the event loop under load) updated three b-trees per
    // lease: the rows by rowid, the primary key's index and the MAC index, which no
    // query uses. Keyed by address alone, a commit writes about half the pages and
    // costs about 70 us of CPU instead of 100-200 (fsync included).
    id: 'dhcp-004-leases-by-address',
    up: `
      CREATE TABLE dhcp_leases_by_address (
        ip        TEXT PRIMARY KEY,          -- dotted quad
        mac       TEXT NOT NULL,             -- lower-case colon form (chaddr)
        state     TEXT NOT NULL,             -- 'bound' | 'declined' (quarantined after a DHCPDECLINE)
        subnet    TEXT NOT NULL,             -- cidr of the subnet it was leased in
        hostname  TEXT,
        starts    INTEGER NOT NULL,          -- ms since epoch
        expires   INTEGER NOT NULL           -- ms since epoch
      ) WITHOUT ROWID;
      INSERT INTO dhcp_leases_by_address SELECT ip, mac, state, subnet, hostname, starts, expires FROM dhcp_leases;
      DROP TABLE dhcp_leases;
      ALTER TABLE dhcp_leases_by_address RENAME TO dhcp_leases;
    `,
  },
];

export interface Lease {
  ip: number;
  mac: string;
  state: 'bound' | 'declined';
  subnet: string;
  hostname: string | null;
  starts: number;
  expires: number;
}

/** A lease as stored: the address dotted. */
export interface LeaseRecord extends Omit<Lease, 'ip'> {
  ip: string;
}

export type Holder = { kind: 'lease' | 'offer' | 'declined'; mac: string };

/** A change a DHCP handler decided on; the server applies it (a dry run does not). */
export type LeaseChange =
  | { kind: 'offer'; mac: string; ip: number; holdMs: number }
  | { kind: 'withdraw'; mac: string }
  | { kind: 'bind'; mac: string; ip: number; seconds: number; subnet: string; hostname: string | null }
  | { kind: 'decline'; mac: string; ip: number; seconds: number; subnet: string }
  | { kind: 'release'; mac: string; ip: number };

/** What the handlers may read of the leases: nothing here changes them. */
export type LeaseView = Pick<LeaseStore, 'leaseOf' | 'offerFor' | 'holder' | 'availableTo' | 'free' | 'holds'>;

/** Committed leases (what survived the last commit), unexpired, by address. */
export function committedLeases(db: Db, now = Date.now()): LeaseRecord[] {
  return db
    .prepare('SELECT ip, mac, state, subnet, hostname, starts, expires FROM dhcp_leases WHERE expires > ? ORDER BY ip')
    .all(now) as LeaseRecord[];
}

/** Who holds a committed, bound lease on an address (for attributing TFTP and HTTP clients). */
export function leaseHolderLookup(db: Db, now: () => number = Date.now): (ip: string) => string | undefined {
  const byIp = db.prepare(`SELECT mac FROM dhcp_leases WHERE ip = ? AND state = 'bound' AND expires > ?`).pluck();
  return (ip) => byIp.get(ip, now()) as string | undefined;
}

/** Queued changes to dhcp_leases: address -> the lease to write, or null to delete the row. */
type LeaseWrites = ReadonlyMap<number, Lease | null>;

const statements = new WeakMap<Db, { upsert: Statement; remove: Statement; tx: (w: LeaseWrites) => void }>();

/** Commit `writes` in one transaction (one fsync). Throws when the disk does. */
function writeLeases(db: Db, writes: LeaseWrites): void {
  let s = statements.get(db);
  if (!s) {
    const upsert = db.prepare(
      `INSERT INTO dhcp_leases (ip, mac, state, subnet, hostname, starts, expires) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(ip) DO UPDATE SET mac = excluded.mac, state = excluded.state, subnet = excluded.subnet,
         hostname = excluded.hostname, starts = excluded.starts, expires = excluded.expires`,
    );
    const remove = db.prepare('DELETE FROM dhcp_leases WHERE ip = ?');
    const tx = db.transaction((ws: LeaseWrites) => {
      ws.forEach((l, ip) => {
        if (l) upsert.run(intToIp(ip), l.mac, l.state, l.subnet, l.hostname, l.starts, l.expires);
        else remove.run(intToIp(ip));
      });
    });
    s = { upsert, remove, tx };
    statements.set(db, s);
  }
  s.tx(writes);
}

/**
 * Free addresses of one range as a stack: allocation pops, freeing pushes.
 * An address popped while held (lease, offer, reservation) is simply dropped;
 * it comes back when it is freed, or at the next rebuild when the stack runs dry.
 * Excluded addresses (network, broadcast, ours, routers) never enter it.
 */
class RangePool {
  private readonly stack: Uint32Array;
  private readonly inStack: Uint8Array;
  /** Addresses with lease history: leased, declined, or probed free since start. */
  private readonly seen: Uint8Array;
  private top = 0;
  /** How far down `upcoming` has looked (a stack index). */
  private scanned = Infinity;

  constructor(
    readonly start: number,
    readonly end: number,
    private readonly excluded: ReadonlySet<number>,
  ) {
    const size = end - start + 1;
    this.stack = new Uint32Array(size);
    this.inStack = new Uint8Array(size);
    this.seen = new Uint8Array(size);
    this.refill();
  }

  contains(ip: number): boolean {
    return ip >= this.start && ip <= this.end;
  }

  known(ip: number): boolean {
    return this.seen[ip - this.start] === 1;
  }

  learn(ip: number): void {
    this.seen[ip - this.start] = 1;
  }

  /** Push every address (highest first, so allocation runs upwards). */
  refill(): void {
    for (let ip = this.end; ip >= this.start; ip--) this.give(ip);
    this.scanned = Infinity;
  }

  give(ip: number): void {
    const i = ip - this.start;
    if (i < 0 || ip > this.end || this.inStack[i] || this.excluded.has(ip)) return;
    this.inStack[i] = 1;
    this.stack[this.top++] = ip;
  }

  /**
   * Up to `n` of the next `depth` addresses `peek` will hand out (from the top)
   * that `wanted` accepts; nothing else moves.
   */
  upcoming(n: number, depth: number, wanted: (ip: number) => boolean): number[] {
    const out: number[] = [];
    // Entries from `scanned` up were looked at already: each is looked at once, not
    // once per OFFER (those pushed back above it since are known addresses).
    const from = Math.min(this.top, this.scanned) - 1;
    let i = from;
    const bottom = Math.max(0, this.top - depth);
    for (; i >= bottom && out.length < n; i--) {
      const ip = this.stack[i]!;
      if (wanted(ip)) out.push(ip);
    }
    this.scanned = i + 1;
    return out;
  }

  /**
   * The first usable address on top, left in place: reading it changes nothing a
   * client could see (addresses popped on the way are held, and come back when freed).
   * Once offered it is held too, and the next peek pops it.
   */
  peek(usable: (ip: number) => boolean): number | null {
    while (this.top > 0) {
      const ip = this.stack[this.top - 1]!;
      if (usable(ip)) return ip;
      this.top--;
      this.inStack[ip - this.start] = 0;
    }
    return null;
  }
}

interface Offer {
  mac: string;
  expires: number;
}

export class LeaseStore {
  private readonly byIp = new Map<number, Lease>();
  private readonly byMac = new Map<string, Lease>();
  private readonly offers = new Map<number, Offer>();
  private readonly offerOf = new Map<string, number>();
  private readonly pools: RangePool[] = [];
  /** ip -> lease to write, or null to delete; coalesced until commit(). */
  private readonly dirty = new Map<number, Lease | null>();

  /** Loads the leases `db` holds; commit() writes changes there. */
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    const rows = db
      .prepare('SELECT ip, mac, state, subnet, hostname, starts, expires FROM dhcp_leases')
      .all() as LeaseRecord[];
    for (const r of rows) this.remember({ ...r, ip: ipToInt(r.ip) });
  }

  /** Register a range to allocate from (pool mode), without the addresses in `excluded`. */
  addRange(start: number, end: number, excluded: ReadonlySet<number> = new Set()): void {
    const pool = new RangePool(start, end, excluded);
    for (const ip of this.byIp.keys()) if (pool.contains(ip)) pool.learn(ip);
    this.pools.push(pool);
  }

  // ---- reads ----------------------------------------------------------------

  /** The MAC's live (unexpired) bound lease. */
  leaseOf(mac: string): Lease | undefined {
    const l = this.byMac.get(mac);
    return l && l.expires > this.now() ? l : undefined;
  }

  /** The MAC's live offer. */
  offerFor(mac: string): number | undefined {
    const ip = this.offerOf.get(mac);
    if (ip === undefined) return undefined;
    const o = this.offers.get(ip);
    return o && o.mac === mac && o.expires > this.now() ? ip : undefined;
  }

  /** Who holds `ip` right now, ignoring anything expired. */
  holder(ip: number): Holder | undefined {
    const now = this.now();
    const l = this.byIp.get(ip);
    if (l && l.expires > now) return { kind: l.state === 'declined' ? 'declined' : 'lease', mac: l.mac };
    const o = this.offers.get(ip);
    if (o && o.expires > now) return { kind: 'offer', mac: o.mac };
    return undefined;
  }

  /**
   * False for a pool address nobody ever held and nobody has found free: the
   * conflict check asks the wire before it is first offered. Everything else
   * (leased, declined, probed) answers from memory.
   */
  hasHistory(ip: number): boolean {
    if (this.byIp.has(ip)) return true;
    for (const p of this.pools) if (p.contains(ip)) return p.known(ip);
    return true;
  }

  /** `ip` was probed and nobody answered: it is offered without asking again. */
  markChecked(ip: number): void {
    this.learn(ip);
  }

  /** True when `ip` is free or already this MAC's. */
  availableTo(ip: number, mac: string): boolean {
    const h = this.holder(ip);
    return !h || (h.mac === mac && h.kind !== 'declined');
  }

  // ---- changes (memory now, disk once committed) -----------------------------

  /**
   * A free address from the ranges within [lo, hi] (the client's subnet), or null
   * when they are exhausted. `reserved` says an address belongs to an inventory node.
   * It stays free until an offer of it is applied.
   */
  free(mac: string, lo: number, hi: number, reserved: (ip: number) => boolean): number | null {
    const usable = (ip: number) => this.availableTo(ip, mac) && !reserved(ip);
    for (const pool of this.pools) {
      if (pool.end < lo || pool.start > hi) continue;
      let ip = pool.peek(usable);
      if (ip === null) {
        // Addresses dropped while held may be free again: one O(range) rebuild, then give up.
        pool.refill();
        ip = pool.peek(usable);
      }
      if (ip !== null) return ip;
    }
    return null;
  }

  /**
   * Up to `n` of the next `depth` addresses `free` will hand out within [lo, hi]
   * that are free, have no history (so their first offer waits for a conflict
   * check), and are not `skip`ped: what the conflict check asks about ahead of demand.
   */
  unchecked(lo: number, hi: number, n: number, depth: number, skip: (ip: number) => boolean): number[] {
    const wanted = (ip: number) => !this.hasHistory(ip) && !this.holder(ip) && !skip(ip);
    const out: number[] = [];
    for (const pool of this.pools) {
      if (pool.end < lo || pool.start > hi || out.length >= n) continue;
      out.push(...pool.upcoming(n - out.length, depth, (ip) => ip >= lo && ip <= hi && wanted(ip)));
    }
    return out;
  }

  /** Apply what a handler decided. */
  apply(change: LeaseChange): void {
    switch (change.kind) {
      case 'offer':
        return this.offer(change.mac, change.ip, change.holdMs);
      case 'withdraw':
        return this.withdrawOffer(change.mac);
      case 'bind':
        this.bind(change.mac, change.ip, change.seconds, change.subnet, change.hostname);
        return;
      case 'decline':
        return this.decline(change.mac, change.ip, change.seconds, change.subnet);
      case 'release':
        this.release(change.mac, change.ip);
        return;
    }
  }

  /** True when `mac` holds a bound lease on `ip` (what a RELEASE must show). */
  holds(mac: string, ip: number): boolean {
    const l = this.byIp.get(ip);
    return l !== undefined && l.mac === mac && l.state === 'bound';
  }

  /** Hold `ip` for `mac` until the REQUEST (or until holdMs passes). */
  offer(mac: string, ip: number, holdMs: number): void {
    const prev = this.offerOf.get(mac);
    if (prev !== undefined && prev !== ip && this.offers.get(prev)?.mac === mac) this.dropOffer(prev);
    this.offers.set(ip, { mac, expires: this.now() + holdMs });
    this.offerOf.set(mac, ip);
  }

  /** The client took another server's offer. */
  withdrawOffer(mac: string): void {
    const ip = this.offerOf.get(mac);
    if (ip !== undefined && this.offers.get(ip)?.mac === mac) this.dropOffer(ip);
  }

  /** Bind (or renew) a lease; durable once committed. */
  bind(mac: string, ip: number, seconds: number, subnet: string, hostname: string | null): Lease {
    const now = this.now();
    const old = this.byMac.get(mac);
    if (old && old.ip !== ip) this.forget(old);
    const stale = this.byIp.get(ip); // an expired lease of another client
    if (stale && stale.mac !== mac && this.byMac.get(stale.mac) === stale) this.byMac.delete(stale.mac);
    const o = this.offers.get(ip);
    if (o?.mac === mac) this.dropOffer(ip, false);
    const lease: Lease = { ip, mac, state: 'bound', subnet, hostname, starts: now, expires: now + seconds * 1000 };
    this.remember(lease);
    this.dirty.set(ip, lease);
    return lease;
  }

  /** DHCPRELEASE: the client gives the address back. */
  release(mac: string, ip: number): boolean {
    if (!this.holds(mac, ip)) return false;
    this.forget(this.byIp.get(ip)!);
    return true;
  }

  /** DHCPDECLINE: someone else answers ARP for `ip`; keep it out of use for `seconds`. */
  decline(mac: string, ip: number, seconds: number, subnet: string): void {
    const now = this.now();
    const l = this.byIp.get(ip);
    if (l) this.forget(l);
    if (this.offers.get(ip)) this.dropOffer(ip, false);
    const q: Lease = { ip, mac, state: 'declined', subnet, hostname: null, starts: now, expires: now + seconds * 1000 };
    this.byIp.set(ip, q);
    this.dirty.set(ip, q);
    this.learn(ip);
  }

  /** Forget what has expired: leases, quarantines and offers. Returns how many leases ended. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const l of this.byIp.values()) {
      if (l.expires <= now) {
        this.forget(l);
        n++;
      }
    }
    for (const [ip, o] of this.offers) if (o.expires <= now) this.dropOffer(ip);
    return n;
  }

  /** Writes waiting to be committed. */
  get pending(): number {
    return this.dirty.size;
  }

  /**
   * Write the queued changes (the last state of each address) in one transaction,
   * on disk when this returns (synchronous=FULL, db.ts). When the write fails it
   * throws, and the changes stay queued for the next commit.
   */
  commit(): void {
    // Inside an open transaction this would only be a savepoint, not on disk.
    if (this.db.inTransaction) throw new Error('lease commit inside an open transaction');
    if (this.dirty.size === 0) return;
    writeLeases(this.db, this.dirty);
    this.dirty.clear();
  }

  // ---- internals ------------------------------------------------------------

  private remember(l: Lease): void {
    this.byIp.set(l.ip, l);
    if (l.state === 'bound') this.byMac.set(l.mac, l);
    this.learn(l.ip);
  }

  private learn(ip: number): void {
    for (const p of this.pools) if (p.contains(ip)) p.learn(ip);
  }

  private forget(l: Lease): void {
    if (this.byIp.get(l.ip) === l) {
      this.byIp.delete(l.ip);
      this.dirty.set(l.ip, null);
    }
    if (this.byMac.get(l.mac) === l) this.byMac.delete(l.mac);
    this.giveBack(l.ip);
  }

  private dropOffer(ip: number, free = true): void {
    const o = this.offers.get(ip);
    if (!o) return;
    this.offers.delete(ip);
    if (this.offerOf.get(o.mac) === ip) this.offerOf.delete(o.mac);
    if (free) this.giveBack(ip);
  }

  private giveBack(ip: number): void {
    for (const p of this.pools) if (p.contains(ip)) p.give(ip);
  }
}
