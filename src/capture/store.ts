// The packets rackjoin exchanged with each machine, kept in memory by MAC so that
// a machine's packets from before it was enrolled are still there once it is a
// node. Nothing is written to disk: a restart starts empty.
//
// The DHCP path captures every datagram, so a capture must cost little, for the
// garbage collector too: each datagram is encoded into its pcap record at once
// (pcap.ts) and written into fixed CHUNK-sized pieces of one arena allocated once,
// never an object or a buffer per packet. Each MAC holds a list of chunks:
//   - at most PER_MACHINE_BYTES of them: when its last chunk is full and it has
//     its share, its oldest chunk is reused (its oldest packets go first);
//   - all MACs together TOTAL_BYTES (the arena): when no chunk is free, the MAC
//     heard from least recently is forgotten whole (exact LRU), so a flood of
//     invented MACs cannot exhaust memory, only push out the quietest machines.
// A record longer than a chunk (a TFTP block with a large blksize) is kept cut to
// a chunk, as tcpdump -s does.
import { recordLength, recordTime, splitRecords, writeRecord, type Datagram } from './pcap.js';

/** What one machine's capture keeps at most: its newest packets. */
const PER_MACHINE_BYTES = 256 * 1024;
/** What all captures keep together. */
const TOTAL_BYTES = 64 * 1024 * 1024;
/** The unit of allocation: a DHCP exchange or two, or one large TFTP block (cut). */
export const CHUNK_BYTES = 4096;

export interface CaptureLimits {
  perMachine: number;
  total: number;
}

/** One machine's chunks, oldest first (the last is being filled), in the list of MACs by when last heard from. */
interface Ring {
  mac: string;
  chunks: number[];
  newer: Ring | null;
  older: Ring | null;
}

export class CaptureStore {
  private readonly rings = new Map<string, Ring>();
  // A doubly linked list, most recently heard from first: moving a ring to the front costs a few assignments.
  private newest: Ring | null = null;
  private oldest: Ring | null = null;
  private arena: Buffer | null = null;
  /** Bytes written in each chunk. */
  private readonly fill: Uint32Array;
  private readonly free: number[] = [];
  private fresh = 0;
  private readonly perMachineChunks: number;

  constructor(limits: CaptureLimits = { perMachine: PER_MACHINE_BYTES, total: TOTAL_BYTES }) {
    this.fill = new Uint32Array(Math.max(1, Math.floor(limits.total / CHUNK_BYTES)));
    this.perMachineChunks = Math.max(1, Math.floor(limits.perMachine / CHUNK_BYTES));
  }

  /** Record datagrams exchanged with the machine that has `mac` (lower-case colon form). */
  add(mac: string, ...datagrams: Datagram[]): void {
    if (datagrams.length === 0) return;
    let ring = this.rings.get(mac);
    if (ring) this.unlink(ring);
    else this.rings.set(mac, (ring = { mac, chunks: [], newer: null, older: null }));
    this.pushNewest(ring);
    for (const d of datagrams) this.append(ring, d);
  }

  /** Whether anything was captured for `mac`. */
  has(mac: string): boolean {
    return this.rings.has(mac);
  }

  /** The pcap records of all of `macs`, oldest first (TFTP transfers report theirs when they end). */
  records(macs: readonly string[]): Buffer[] {
    const all: Buffer[] = [];
    for (const mac of macs) {
      for (const c of this.rings.get(mac)?.chunks ?? []) {
        all.push(...splitRecords(this.arena!, c * CHUNK_BYTES, c * CHUNK_BYTES + this.fill[c]!));
      }
    }
    return all.sort((a, b) => recordTime(a) - recordTime(b));
  }

  private append(ring: Ring, d: Datagram): void {
    const n = Math.min(recordLength(d), CHUNK_BYTES);
    let last = ring.chunks.at(-1);
    if (last === undefined || this.fill[last]! + n > CHUNK_BYTES) {
      last = ring.chunks.length >= this.perMachineChunks ? ring.chunks.shift()! : this.chunkFor(ring);
      ring.chunks.push(last);
      this.fill[last] = 0;
    }
    writeRecord(this.arena!, last * CHUNK_BYTES + this.fill[last]!, d, CHUNK_BYTES);
    this.fill[last]! += n;
  }

  /** A chunk for `ring`: a fresh one, a freed one, or those of the MAC heard from least recently. */
  private chunkFor(ring: Ring): number {
    // Allocated on the first capture; pages become resident as chunks are first used.
    this.arena ??= Buffer.allocUnsafeSlow(this.fill.length * CHUNK_BYTES); // only bytes written are read
    if (this.fresh < this.fill.length) return this.fresh++;
    while (this.free.length === 0 && this.oldest && this.oldest !== ring) {
      const forgotten = this.oldest;
      this.unlink(forgotten);
      this.rings.delete(forgotten.mac);
      this.free.push(...forgotten.chunks);
    }
    // Only when `ring` itself holds every chunk (a total below one machine's share): it reuses its oldest.
    return this.free.pop() ?? ring.chunks.shift()!;
  }

  private unlink(ring: Ring): void {
    if (ring.newer) ring.newer.older = ring.older;
    else this.newest = ring.older;
    if (ring.older) ring.older.newer = ring.newer;
    else this.oldest = ring.newer;
    ring.newer = ring.older = null;
  }

  private pushNewest(ring: Ring): void {
    ring.older = this.newest;
    if (this.newest) this.newest.newer = ring;
    this.newest = ring;
    this.oldest ??= ring;
  }
}
