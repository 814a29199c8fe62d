// Lease commits on a thread of their own. With synchronous=FULL a commit waits for
// fsync; on the event loop that wait stalls every other packet, and a slow disk
// (or a busy shared one) then caps DORA/s at batch size / fsync time and worse.
// Here the loop keeps answering DISCOVERs while a commit runs, and the next batch
// gathers meanwhile: one commit in flight, the rest queued behind it.
import { Worker } from 'node:worker_threads';
import type { LeaseWrite } from './leaseStore.js';

type Reply = { id: number; error?: string };

export class LeaseWriter {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextId = 1;

  /** `file`: the SQLite database the daemon opened (and migrated). */
  constructor(file: string) {
    this.worker = new Worker(new URL('./leaseWriterWorker.js', import.meta.url), { workerData: { file } });
    this.worker.on('message', (m: Reply) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error) w?.reject(new Error(m.error));
      else w?.resolve();
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => this.failAll(new Error(`lease writer exited with code ${code}`)));
  }

  /** Resolves once `writes` are committed to disk. */
  commit(writes: LeaseWrite[]): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, writes });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
