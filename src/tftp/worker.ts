// Worker-thread entry: runs the transfers the pool (pool.ts) hands it, each on its
// own socket. The daemon's main thread only parses requests and resolves files, so
// a slow template render or a synchronous SQLite write there does not delay a
// retransmission here, and several workers spread bulk transfers over the cores.
import type { FileHandle } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import type { Datagram } from '../capture/pcap.js';
import { fileSource, memorySource, type ByteSource } from './source.js';
import { Transfer, type Outcome, type PacketEvent, type TransferSpec } from './transfer.js';

/** A transfer's spec as it crosses the thread boundary: plain data, plus the file's handle. */
export type WireSpec = Omit<TransferSpec, 'source' | 'counters' | 'capture'>;
export type WireSource = { data: Uint8Array } | { handle: FileHandle; size: number };

export type ToWorker =
  { type: 'start'; id: number; spec: WireSpec; source: WireSource } | { type: 'abort'; id: number; reason: string };

export interface TransferCounts {
  packets: Partial<Record<PacketEvent, number>>;
  sent: number;
  resent: number;
  /** The packets the transfer kept for the capture; they cross to the main thread with the outcome. */
  captured: Datagram[];
}

export type FromWorker = { type: 'done'; id: number; outcome: Outcome; counts: TransferCounts };

const port = parentPort;
if (!port) throw new Error('tftp/worker.js runs as a worker thread');

const running = new Map<number, Transfer>();

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'abort') running.get(msg.id)?.abort(msg.reason);
  else void run(msg.id, msg.spec, msg.source);
});

async function run(id: number, wire: WireSpec, from: WireSource): Promise<void> {
  const counts: TransferCounts = { packets: {}, sent: 0, resent: 0, captured: [] };
  const source: ByteSource =
    'data' in from
      ? memorySource(Buffer.from(from.data.buffer, from.data.byteOffset, from.data.byteLength))
      : fileSource(from.handle, from.size);
  let outcome: Outcome;
  try {
    const transfer = Transfer.start({
      ...wire,
      source,
      counters: {
        packet: (e) => (counts.packets[e] = (counts.packets[e] ?? 0) + 1),
        sent: (n, resent) => {
          counts.sent += n;
          counts.resent += resent;
        },
      },
      capture: (d) => counts.captured.push(d),
    });
    running.set(id, transfer);
    outcome = await transfer.done;
  } catch (err) {
    outcome = {
      status: 'failed',
      bytes: 0,
      error: `transfer setup: ${(err as Error).message}`,
      kind: 'internal',
      sent: null,
    };
  } finally {
    running.delete(id);
  }
  await source.close().catch(() => undefined);
  port!.postMessage({ type: 'done', id, outcome, counts } satisfies FromWorker);
}
