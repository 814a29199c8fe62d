// Group commit: an ACK that grants a lease leaves only once the lease is on disk.
// Lease writes go to the writer thread (leaseWriter.ts), one batch in flight; the
// replies of a batch are released when its commit returns, or withheld (the
// client retries its REQUEST) when it fails. Everything that arrives while a
// commit runs joins the next batch: one fsync for many ACKs.
import type { Logger } from '../log.js';
import type { LeaseStore } from './leaseStore.js';
import { LeaseWriter } from './leaseWriter.js';

// A slow commit releases a burst of ACKs; a relay or a load generator with a small
// socket buffer drops most of a burst sent in one go, so they go a chunk per turn.
const RELEASE_CHUNK = 32;

/** A reply waiting for its lease: sent after the commit, or withheld with the reason. */
export interface HeldReply {
  send(): void;
  withhold(reason: string): void;
}

export class GroupCommit {
  private readonly writer: LeaseWriter;
  private held: HeldReply[] = [];
  private committing: Promise<void> | null = null;
  private queued = false;

  /** `dbFile`: the daemon's SQLite database (already migrated). */
  constructor(
    private readonly leases: LeaseStore,
    dbFile: string,
    private readonly log: Logger,
  ) {
    this.writer = new LeaseWriter(dbFile);
  }

  /** Queue `reply` behind the lease change already applied to the store. */
  hold(reply: HeldReply): void {
    this.held.push(reply);
    this.schedule();
  }

  /** Commit soon: after this burst of datagrams, which join the batch. */
  schedule(): void {
    if (this.queued || this.committing) return;
    this.queued = true;
    setImmediate(() => this.commit());
  }

  /** What was granted is committed and sent (or withheld) before this resolves. */
  async close(): Promise<void> {
    await this.committing;
    this.commit();
    await this.committing;
    await this.writer.close();
  }

  private commit(): void {
    this.queued = false;
    if (this.committing || (this.held.length === 0 && this.leases.pending === 0)) return;
    const replies = this.held;
    const writes = this.leases.drain();
    this.held = [];
    this.committing = this.writer
      .commit(writes)
      .then(
        () => release(replies, 0),
        (err: Error) => {
          // Not on disk, so not granted: the clients will retry their REQUEST.
          this.leases.requeue(writes);
          for (const r of replies) r.withhold(`lease commit failed: ${err.message}`);
          this.log.error({ err }, 'dhcp: lease commit failed; ACKs withheld');
        },
      )
      .finally(() => {
        this.committing = null;
        if (this.held.length > 0 || this.leases.pending > 0) this.schedule();
      });
  }
}

function release(list: HeldReply[], from: number): void {
  const end = Math.min(list.length, from + RELEASE_CHUNK);
  for (let i = from; i < end; i++) list[i]!.send();
  if (end < list.length) setImmediate(() => release(list, end));
}
