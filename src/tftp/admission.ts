// Which read requests start a transfer: one per client TID (a retransmitted RRQ
// does not start a second), and limits in total and per client address. Over a
// limit the request is dropped without an answer, as dnsmasq does when it is at
// tftp-max: firmware retransmits its RRQ a few seconds later, by when a stale
// transfer may have ended, whereas an ERROR would end the boot attempt there.
// Each client address is reported once per spell over a limit, not per dropped
// RRQ: a looping ROM must not turn into a flood of timeline events.
import type { Peer } from './transfer.js';

export interface Running {
  abort(reason: string): void;
}

export type OverLimit = 'busy' | 'clientBusy';

export type Admitted =
  | { ok: true; key: string }
  | { ok: false; reason: 'duplicateRequest' }
  /** `report`: the first refusal of this address since it was last under the limit. */
  | { ok: false; reason: OverLimit; report: boolean };

// Addresses remembered as already reported; past this (a flood from many
// addresses while full) refusals are still counted but no longer reported.
const MAX_REMEMBERED = 4096;

export class Admission {
  // Keyed by the client's address:port (its TID). null while the request is being resolved.
  private readonly transfers = new Map<string, Running | null>();
  private readonly perClient = new Map<string, number>();
  private readonly reported = { busy: new Set<string>(), clientBusy: new Set<string>() };

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
    if (this.transfers.size >= this.maxTransfers) return this.refuse('busy', peer.address);
    const count = this.perClient.get(peer.address) ?? 0;
    if (count >= this.maxPerClient) return this.refuse('clientBusy', peer.address);
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
    // A slot is free again: the next refusal starts a new spell.
    this.reported.clientBusy.delete(peer.address);
    this.reported.busy.clear();
  }

  abortAll(reason: string): void {
    for (const t of this.transfers.values()) t?.abort(reason);
  }

  private refuse(reason: OverLimit, address: string): Admitted {
    const seen = this.reported[reason];
    const report = !seen.has(address) && seen.size < MAX_REMEMBERED;
    if (report) seen.add(address);
    return { ok: false, reason, report };
  }
}
