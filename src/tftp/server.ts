// rackjoin's TFTP server: read requests only. The listening socket takes requests
// (admission.ts decides which start a transfer); each admitted request is served
// by request.ts: a Transfer on a fresh port, run by a worker thread (pool.ts) so
// that bulk transfers neither wait on nor stall the daemon's main event loop.
// What is served is decided by the caller's resolve hook (a rendered config from
// memory, or a static file that src/assets.ts has already contained under the
// asset root). Every request answered or refused is reported once through
// onTransfer (report.ts), with the ERROR packet it got, if any.
import { createSocket, type Socket } from 'node:dgram';
import { availableParallelism } from 'node:os';
import { datagramNow, type Datagram } from '../capture/pcap.js';
import type { Logger } from '../log.js';
import { Admission, type OverLimit } from './admission.js';
import { DEFAULT_BLKSIZE_MAX } from './options.js';
import { decode, encodeError, ERR, errorText } from './packet.js';
import { TransferPool } from './pool.js';
import { shown } from '../untrusted.js';
import { refusal, type TftpFailure, type TransferRecord } from './report.js';
import { serveRequest, type RequestDeps, type TftpFile, type TftpRequestInfo } from './request.js';
import { emptyStats, type TftpStats } from './stats.js';
import { DEFAULT_TIMING, type Peer, type RetransmitTiming } from './transfer.js';

export type { DropReason, TftpStats } from './stats.js';
export type { TftpFile, TftpRequestInfo } from './request.js';
export type { TftpErrorPacket } from './packet.js';
export type { FailureRecord, TftpFailure, TftpFailureKind, TransferRecord } from './report.js';
export type { Peer, RetransmitTiming };

export interface TftpServerOptions<T> {
  host?: string;
  port: number;
  /** See DEFAULT_BLKSIZE_MAX for why this is configured rather than discovered. */
  blksizeMax?: number;
  windowsizeMax?: number;
  maxTransfers?: number;
  /** Transfers one client address may run at once (config tftp.maxTransfersPerClient). */
  maxTransfersPerClient?: number;
  /** Worker threads running transfers; default: one per core, at most 4. */
  workers?: number;
  timing?: Partial<RetransmitTiming>;
  resolve(req: TftpRequestInfo): Promise<TftpFile<T> | null>;
  /** Every request answered or refused, once: a served file (status ok) or a failure with the ERROR sent. */
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

// One machine fetches its files one after another; a few in parallel allow for
// a firmware retry overlapping a stale transfer and for several NICs behind NAT.
const DEFAULT_MAX_TRANSFERS_PER_CLIENT = 8;

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
  const perClient = opts.maxTransfersPerClient ?? DEFAULT_MAX_TRANSFERS_PER_CLIENT;
  const admission = new Admission(opts.maxTransfers ?? 512, perClient);
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
    if (closed) return false;
    const packet = encodeError(code, message);
    socket.send(packet, peer.port, peer.address);
    capture(peer, [datagramNow(true, listening, peer, packet)]);
    return true;
  };
  const report = (rec: TransferRecord<T>) => {
    try {
      opts.onTransfer?.(rec);
    } catch (err) {
      log.error({ err }, 'onTransfer hook threw');
    }
  };
  /** A request refused on the listening port, before admission: answered with `code`, reported. */
  const refuseRequest = (peer: Peer, path: string, kind: TftpFailure['kind'], code: number, message: string) => {
    const text = errorText(message);
    const sent = refuse(peer, code, text) ? { code, message: text } : null;
    report(refusal(peer, path, { kind, sent, detail: text }));
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
    report,
  });

  socket.on('message', (msg, rinfo) => {
    if (closed) return;
    const peer = { address: rinfo.address, port: rinfo.port };
    capture(peer, [datagramNow(false, listening, peer, msg)]);
    const decoded = decode(msg);
    if (!decoded.ok) {
      if (decoded.reason !== 'malformed') {
        stats.dropped[decoded.reason === 'bad-opcode' ? 'badOpcode' : decoded.reason]++;
        return;
      }
      // A request that names no file or no mode: RFC 1350 error 4, as tftp-hpa answers.
      // debug, not info: a stream of them from one host must not flood the log.
      stats.requests++;
      stats.dropped.malformed++;
      log.debug({ peer, error: decoded.error }, 'tftp malformed request refused');
      return refuseRequest(peer, decoded.filename ?? '', 'malformed', ERR.ILLEGAL_OPERATION, decoded.error);
    }
    const p = decoded.packet;
    if (p.op !== 'rrq' && p.op !== 'wrq') {
      stats.dropped.badOpcode++;
      return;
    }
    stats.requests++;
    if (p.op === 'wrq') {
      stats.dropped.writeRefused++;
      log.warn({ peer, file: shown(p.filename) }, 'tftp write request refused');
      return refuseRequest(peer, p.filename, 'writeRefused', ERR.ACCESS_VIOLATION, 'uploads are not accepted');
    }
    const admitted = admission.admit(peer);
    if (!admitted.ok) {
      stats.dropped[admitted.reason]++;
      if (admitted.reason !== 'duplicateRequest' && admitted.report) overLimit(peer, p.filename, admitted.reason);
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

  /** Over a limit: no ERROR (see admission.ts), reported once per spell. */
  function overLimit(peer: Peer, path: string, kind: OverLimit): void {
    const limit =
      kind === 'busy'
        ? `transfers running: ${admission.size}, the server's limit`
        : `transfers running for this address: ${perClient}, its limit (tftp.maxTransfersPerClient)`;
    const detail = `not answered, the client retries later; ${limit}`;
    // debug, not warn: a request flood must not become a log flood; the counter shows it.
    log.debug({ peer, file: shown(path), active: admission.size }, 'tftp request dropped: too many transfers');
    report(refusal(peer, path, { kind, sent: null, detail }));
  }

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
