// The lease writer thread (see leaseWriter.ts): its own connection to the
// daemon's database, one transaction per batch.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { writeLeases, type LeaseWrite } from './leaseStore.js';

const db = new Database((workerData as { file: string }).file);
// Same durability as the daemon's connection (db.ts); the file is already in WAL mode.
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');

parentPort!.on('message', ({ id, writes }: { id: number; writes: LeaseWrite[] }) => {
  try {
    writeLeases(db, writes);
    parentPort!.postMessage({ id });
  } catch (err) {
    parentPort!.postMessage({ id, error: (err as Error).message });
  }
});
