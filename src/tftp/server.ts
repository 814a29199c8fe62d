// rackjoin's TFTP server: read requests only. The listening socket takes requests
// (admission.ts decides which start a transfer); each admitted request is served
// by request.ts: a Transfer on a fresh port, run by a worker thread (pool.ts) so
// that bulk transfers neither wait on nor stall the daemon's main event loop.
// What is served is decided by the caller's resolve hook (a rendered config from
// memory, or a static file that src/assets.ts has already contained under the
// asset root); every answered request is reported once through onTransfer.
import { createSocket, type Socket } from 'node:dgram';
import { availableParallelism } from 'node:os';
import { datagramNow, type Datagram } from '../capture/pcap.js';
import type { Logger } from '../log.js';
import { Admission } from './admission.js';
import { DEFAULT_BLKSIZE_MAX } from './options.js';
import { decode, encodeError, ERR } from './packet.js';
import { TransferPool } from './pool.js';
import { serveRequest, type RequestDeps, type TftpFile, type TftpRequestInfo, type TransferRecord } from './request.js';
import { emptyStats, type TftpStats } from './stats.js';
import { DEFAULT_TIMING, type Peer, type RetransmitTiming } from './transfer.js';

export type { DropReason, TftpStats } from './stats.js';
export type { TftpFile, TftpRequestInfo, TransferRecord } from './request.js';
export type { Peer, RetransmitTiming };

export interface TftpServerOptions<T> {
  host?: string;
  port: number;
  /** See DEFAULT_BLKSIZE_MAX for why this is configured rather than discovered. */
  blksizeMax?: number;
  windowsizeMax?: number;
  maxTransfers?: number;
  maxPerClient?: number;
  /** Worker threads running transfers; default: one per core, at most 4. */
  workers?: number;
  timing?: Partial<RetransmitTiming>;
  resolve(req: TftpRequestInfo): Promise<TftpFile<T> | null>;
  onTransfer?(rec: TransferRecord<T>): void;
  /**
   * Packets for the client's capture: each datagram to the listening port and each
   * error sent from it as it happens, a transfer's (TransferSpec.capture) when it ends.
   */
  capture?(peer: Peer, datagrams: Datagram[]): void;
  log: Logger;
}

export interface TftpServer {
  address(): { address: string; port: number };
  stats(): TftpStats;
  close(): Promise<void>;
}

const CLOSE_WAIT_MS = 5000;

function bind(port: number, host: string): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

export async function startTftpServer<T = never>(opts: TftpServerOptions<T>): Promise<TftpServer> {
  const host = opts.host ?? '0.0.0.0';
  const log = opts.log.child({ module: 'tftp' });
  const stats = emptyStats();
  // One machine fetches its files one after another; a few in parallel allow for
  // a firmware retry overlapping a stale transfer and for several NICs behind NAT.
  const admission = new Admission(opts.maxTransfers ?? 512, opts.maxPerClient ?? 8);
  const running = new Set<Promise<void>>();
  let closed = false;

  const socket = await bind(opts.port, host);
  socket.on('error', (err) => log.error({ err }, 'tftp listening socket error'));
  let pool: TransferPool;
  try {
    pool = await TransferPool.start(opts.workers ?? Math.min(4, availableParallelism()), log);
  } catch (err) {
    socket.close();
    throw err;
  }

  const capture = (peer: Peer, datagrams: Datagram[]) => {
    try {
      opts.capture?.(peer, datagrams);
    } catch (err) {
      log.error({ err }, 'tftp capture hook threw');
    }
  };
  const listening = { address: host, port: socket.address().port };
  const refuse = (peer: Peer, code: number, message: string) => {
    if (closed) return;
    const packet = encodeError(code, message);
    socket.send(packet, peer.port, peer.address);
    capture(peer, [datagramNow(true, listening, peer, packet)]);
  };
  const deps = (key: string): RequestDeps<T> => ({
    host,
    limits: { blksizeMax: opts.blksizeMax ?? DEFAULT_BLKSIZE_MAX, windowsizeMax: opts.windowsizeMax ?? 64 },
    timing: { ...DEFAULT_TIMING, ...opts.timing },
    pool,
    stats,
    log,
    resolve: opts.resolve,
    started: (transfer) => admission.started(key, transfer),
    refuse,
    closing: () => closed,
    capture,
    report(rec) {
      try {
        opts.onTransfer?.(rec);
      } catch (err) {
        log.error({ err }, 'onTransfer hook threw');
      }
    },
  });

  socket.on('message', (msg, rinfo) => {
    if (closed) return;
    const peer = { address: rinfo.address, port: rinfo.port };
    capture(peer, [datagramNow(false, listening, peer, msg)]);
    const decoded = decode(msg);
    if (!decoded.ok) {
      stats.dropped[decoded.reason === 'bad-opcode' ? 'badOpcode' : decoded.reason]++;
      return;
    }
    const p = decoded.packet;
    if (p.op !== 'rrq' && p.op !== 'wrq') {
      stats.dropped.badOpcode++;
      return;
    }
    stats.requests++;
    if (p.op === 'wrq') {
      stats.dropped.writeRefused++;
      log.warn({ peer, file: p.filename }, 'tftp write request refused');
      return refuse(peer, ERR.ACCESS_VIOLATION, 'uploads are not accepted');
    }
    const admitted = admission.admit(peer);
    if (!admitted.ok) {
      stats.dropped[admitted.reason]++;
      // debug, not warn: a request flood must not become a log flood; the counter shows it.
      if (admitted.reason !== 'duplicateRequest') {
        log.debug({ peer, file: p.filename, active: admission.size }, 'tftp request dropped: too many transfers');
      }
      return;
    }
    const job = serveRequest(deps(admitted.key), p.filename, p.mode, p.options, peer)
      .catch((err) => log.error({ err, peer }, 'tftp transfer crashed'))
      .finally(() => {
        admission.finished(admitted.key, peer);
        running.delete(job);
      });
    running.add(job);
  });

  return {
    address: () => {
      const a = socket.address();
      return { address: a.address, port: a.port };
    },
    stats: () => ({ ...stats, dropped: { ...stats.dropped } }),
    async close() {
      if (closed) return;
      closed = true;
      socket.close();
      admission.abortAll('server shutting down');
      // Bounded: a resolve hook that never settles must not hold shutdown forever.
      await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())]);
      await pool.close();
    },
  };
}
