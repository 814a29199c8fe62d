// A fixed set of worker threads (worker.ts) that run transfers; each new transfer
// goes to the worker with the fewest. A worker that dies fails its transfers and
// is replaced, so one bug costs those transfers, not the server.
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Outcome } from './transfer.js';
import type { FromWorker, ToWorker, TransferCounts, WireSource, WireSpec } from './worker.js';

export interface Finished {
  outcome: Outcome;
  counts: TransferCounts;
}

interface Slot {
  worker: Worker;
  pending: Map<number, (f: Finished) => void>;
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

export class TransferPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private closing = false;

  private constructor(private readonly log: Logger) {}

  /** Resolves once every worker is running, so the first transfer does not wait for one to boot. */
  static async start(size: number, log: Logger): Promise<TransferPool> {
    const pool = new TransferPool(log);
    for (let i = 0; i < Math.max(1, size); i++) pool.slots.push(pool.spawn());
    try {
      await Promise.all(
        pool.slots.map(
          (s) =>
            new Promise<void>((resolve, reject) => {
              s.worker.once('online', resolve);
              s.worker.once('error', reject);
            }),
        ),
      );
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** Starts a transfer; the FileHandle, if any, moves to the worker, which closes it. */
  run(spec: WireSpec, source: WireSource): { done: Promise<Finished>; abort(reason: string): void } {
    const slot = this.slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    const done = new Promise<Finished>((resolve) => slot.pending.set(id, resolve));
    slot.worker.ref();
    const msg: ToWorker = { type: 'start', id, spec, source };
    slot.worker.postMessage(msg, 'handle' in source ? [source.handle] : []);
    return {
      done,
      abort: (reason) => {
        if (slot.pending.has(id)) slot.worker.postMessage({ type: 'abort', id, reason } satisfies ToWorker);
      },
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(WORKER_URL), pending: new Map() };
    slot.worker.on('message', (msg: FromWorker) => {
      const resolve = slot.pending.get(msg.id);
      slot.pending.delete(msg.id);
      if (slot.pending.size === 0) slot.worker.unref();
      resolve?.({ outcome: msg.outcome, counts: msg.counts });
    });
    slot.worker.on('error', (err) => this.log.error({ err }, 'tftp worker crashed'));
    slot.worker.on('exit', (code) => {
      for (const resolve of slot.pending.values()) {
        resolve({
          outcome: { status: 'failed', bytes: 0, error: `tftp worker exited (${code})`, kind: 'internal', sent: null },
          counts: { packets: {}, sent: 0, resent: 0, captured: [] },
        });
      }
      slot.pending.clear();
      if (this.closing) return;
      const i = this.slots.indexOf(slot);
      if (i !== -1) this.slots[i] = this.spawn();
    });
    // An idle worker must not keep the process alive; one with transfers does.
    slot.worker.unref();
    return slot;
  }
}
