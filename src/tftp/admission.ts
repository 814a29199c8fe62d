// Which read requests start a transfer: one per client TID (a retransmitted RRQ
// does not start a second), and limits in total and per client address. Over a
// limit the request is dropped without an answer: firmware retransmits its RRQ a
// few seconds later, whereas an ERROR would end the boot attempt.
import type { Peer } from './transfer.js';

export interface Running {
  abort(reason: string): void;
}

export type Admitted = { ok: true; key: string } | { ok: false; reason: 'duplicateRequest' | 'busy' | 'clientBusy' };

export class Admission {
  // Keyed by the client's address:port (its TID). null while the request is being resolved.
  private readonly transfers = new Map<string, Running | null>();
  private readonly perClient = new Map<string, number>();

  constructor(
    private readonly maxTransfers: number,
    private readonly maxPerClient: number,
  ) {}

  get size(): number {
    return this.transfers.size;
  }

  admit(peer: Peer): Admitted {
    const key = `${peer.address}:${peer.port}`;
    if (this.transfers.has(key)) return { ok: false, reason: 'duplicateRequest' };
    if (this.transfers.size >= this.maxTransfers) return { ok: false, reason: 'busy' };
    const count = this.perClient.get(peer.address) ?? 0;
    if (count >= this.maxPerClient) return { ok: false, reason: 'clientBusy' };
    this.transfers.set(key, null);
    this.perClient.set(peer.address, count + 1);
    return { ok: true, key };
  }

  /** The admitted request's transfer is running (and can be aborted at shutdown). */
  started(key: string, transfer: Running): void {
    this.transfers.set(key, transfer);
  }

  finished(key: string, peer: Peer): void {
    this.transfers.delete(key);
    const left = (this.perClient.get(peer.address) ?? 1) - 1;
    if (left > 0) this.perClient.set(peer.address, left);
    else this.perClient.delete(peer.address);
  }

  abortAll(reason: string): void {
    for (const t of this.transfers.values()) t?.abort(reason);
  }
}
