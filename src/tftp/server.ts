// rackjoin's TFTP server: read requests only. The listening socket takes requests;
// each accepted request becomes a Transfer on a fresh port, run by a worker thread
// (pool.ts) so that bulk transfers neither wait on nor stall the daemon's main
// event loop. What is served is
// decided by the caller's resolve hook (a rendered config from memory, or a static
// file that src/assets.ts has already contained under the asset root); every
// answered request is reported once through onTransfer for the node's timeline.
import { createSocket, type RemoteInfo } from 'node:dgram';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Logger } from '../log.js';
import { normalizeRequestPath } from '../assets.js';
import { decode, encodeError, ERR, type Options } from './packet.js';
import { DEFAULT_BLKSIZE, DEFAULT_BLKSIZE_MAX, negotiate } from './options.js';
import { TransferPool } from './pool.js';
import { toNetascii } from './source.js';
import { pathMtu } from './udp.js';
import { DEFAULT_TIMING, type PacketEvent, type Peer, type RetransmitTiming } from './transfer.js';
import type { WireSource } from './worker.js';

export type { Peer, RetransmitTiming };

/** What the resolve hook serves: bytes rendered in memory, or a file on disk. */
export type TftpFile = { data: Buffer; node?: string } | { path: string; node?: string };

export interface TftpRequestInfo {
  /** Normalised: `/` separators, no leading `/`, no `.` or `..` segments. */
  path: string;
  mode: 'octet' | 'netascii';
  peer: Peer;
  options: Options;
}

export interface TransferRecord {
  path: string;
  peer: Peer;
  /** The node the resolve hook named for this file, if any. */
  node?: string;
  /** ok; failed (timeout, I/O, shutdown); aborted by the client's ERROR; refused (not found, access). */
  status: 'ok' | 'failed' | 'aborted' | 'refused';
  error?: string;
  /** Bytes the client acknowledged. */
  bytes: number;
  durationMs: number;
  blksize: number;
  windowsize: number;
}

export type DropReason =
  | PacketEvent
  | 'writeRefused'
  | 'badMode'
  | 'accessViolation'
  | 'notFound'
  | 'tooLarge'
  | 'resolveError'
  | 'busy'
  | 'clientBusy'
  | 'duplicateRequest';

export interface TftpStats {
  /** RRQs and WRQs that reached the listening port. */
  requests: number;
  active: number;
  transfersOk: number;
  transfersFailed: number;
  transfersAborted: number;
  bytesSent: number;
  packetsSent: number;
  packetsResent: number;
  /** Packets and requests not served, by reason. Per-transfer counts land when the transfer ends. */
  dropped: Record<DropReason, number>;
}

export interface TftpServerOptions {
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
  resolve(req: TftpRequestInfo): Promise<TftpFile | null>;
  onTransfer?(rec: TransferRecord): void;
  log: Logger;
}

export interface TftpServer {
  address(): { address: string; port: number };
  stats(): TftpStats;
  close(): Promise<void>;
}

// netascii is converted in memory (the converted size is needed for tsize);
// it is meant for text, so a large file in that mode is refused.
const NETASCII_MAX = 16 * 1024 * 1024;
const CLOSE_WAIT_MS = 5000;

function emptyDrops(): Record<DropReason, number> {
  const reasons: DropReason[] = [
    'stranger',
    'runt',
    'malformed',
    'badOpcode',
    'duplicateAck',
    'writeRefused',
    'badMode',
    'accessViolation',
    'notFound',
    'tooLarge',
    'resolveError',
    'busy',
    'clientBusy',
    'duplicateRequest',
  ];
  return Object.fromEntries(reasons.map((r) => [r, 0])) as Record<DropReason, number>;
}

class Refusal extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason: DropReason,
  ) {
    super(message);
  }
}

export async function startTftpServer(opts: TftpServerOptions): Promise<TftpServer> {
  const host = opts.host ?? '0.0.0.0';
  const limits = {
    blksizeMax: opts.blksizeMax ?? DEFAULT_BLKSIZE_MAX,
    windowsizeMax: opts.windowsizeMax ?? 64,
  };
  const maxTransfers = opts.maxTransfers ?? 512;
  // One machine fetches its files one after another; a few in parallel allow for
  // a firmware retry overlapping a stale transfer and for several NICs behind NAT.
  const maxPerClient = opts.maxPerClient ?? 8;
  const timing: RetransmitTiming = { ...DEFAULT_TIMING, ...opts.timing };
  const log = opts.log.child({ module: 'tftp' });

  const stats: TftpStats = {
    requests: 0,
    active: 0,
    transfersOk: 0,
    transfersFailed: 0,
    transfersAborted: 0,
    bytesSent: 0,
    packetsSent: 0,
    packetsResent: 0,
    dropped: emptyDrops(),
  };

  // Keyed by the client's address:port (its TID), so a retransmitted RRQ does not
  // start a second transfer. null while the resolve hook and file open are pending.
  const transfers = new Map<string, { abort(reason: string): void } | null>();
  const perClient = new Map<string, number>();
  const running = new Set<Promise<void>>();
  let closed = false;

  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => log.error({ err }, 'tftp listening socket error'));
  let pool: TransferPool;
  try {
    pool = await TransferPool.start(opts.workers ?? Math.min(4, availableParallelism()), log);
  } catch (err) {
    socket.close();
    throw err;
  }

  function report(rec: TransferRecord): void {
    try {
      opts.onTransfer?.(rec);
    } catch (err) {
      log.error({ err }, 'onTransfer hook threw');
    }
  }

  function refuse(rinfo: RemoteInfo, code: number, message: string): void {
    socket.send(encodeError(code, message), rinfo.port, rinfo.address);
  }

  socket.on('message', (msg, rinfo) => {
    if (closed) return;
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
    const peer = { address: rinfo.address, port: rinfo.port };
    if (p.op === 'wrq') {
      stats.dropped.writeRefused++;
      log.warn({ peer, file: p.filename }, 'tftp write request refused');
      return refuse(rinfo, ERR.ACCESS_VIOLATION, 'uploads are not accepted');
    }
    const key = `${peer.address}:${peer.port}`;
    if (transfers.has(key)) {
      stats.dropped.duplicateRequest++;
      return;
    }
    // Over a limit the request is dropped without an answer: firmware retransmits
    // its RRQ a few seconds later, whereas an ERROR would end the boot attempt.
    const clientCount = perClient.get(peer.address) ?? 0;
    if (transfers.size >= maxTransfers || clientCount >= maxPerClient) {
      stats.dropped[transfers.size >= maxTransfers ? 'busy' : 'clientBusy']++;
      // debug, not warn: a request flood must not become a log flood; the counter shows it.
      log.debug({ peer, file: p.filename, active: transfers.size }, 'tftp request dropped: too many transfers');
      return;
    }
    transfers.set(key, null);
    perClient.set(peer.address, clientCount + 1);
    const job = serve(p.filename, p.mode, p.options, peer)
      .catch((err) => log.error({ err, peer }, 'tftp transfer crashed'))
      .finally(() => {
        transfers.delete(key);
        const left = (perClient.get(peer.address) ?? 1) - 1;
        if (left > 0) perClient.set(peer.address, left);
        else perClient.delete(peer.address);
        running.delete(job);
      });
    running.add(job);
  });

  async function serve(filename: string, mode: string, options: Options, peer: Peer): Promise<void> {
    const started = performance.now();
    const key = `${peer.address}:${peer.port}`;
    const base = { path: filename, peer, bytes: 0, blksize: DEFAULT_BLKSIZE, windowsize: 1 };
    let handle: FileHandle | null = null; // ours to close until the pool takes it
    let node: string | undefined;
    try {
      if (mode !== 'octet' && mode !== 'netascii') {
        throw new Refusal(ERR.ILLEGAL_OPERATION, `unsupported transfer mode ${mode}`, 'badMode');
      }
      const name = normalizeRequestPath(filename);
      if (!name.ok) throw new Refusal(ERR.ACCESS_VIOLATION, 'access violation', 'accessViolation');
      base.path = name.path;
      let file: TftpFile | null;
      try {
        file = await opts.resolve({ path: name.path, mode, peer, options });
      } catch (err) {
        log.error({ err, path: name.path }, 'tftp resolve hook threw');
        throw new Refusal(ERR.NOT_DEFINED, 'internal error', 'resolveError');
      }
      if (!file) throw new Refusal(ERR.FILE_NOT_FOUND, 'file not found', 'notFound');
      node = file.node;
      const opened = await openSource(file, mode);
      if ('handle' in opened) handle = opened.handle;
      if (closed) return;
      const size = 'handle' in opened ? opened.size : opened.data.length;
      const n = negotiate(options, size, { ...limits, pathMtu: pathMtu(peer.address) });
      base.blksize = n.blksize;
      base.windowsize = n.windowsize;
      const transfer = pool.run(
        {
          peer,
          bindAddress: host,
          blksize: n.blksize,
          windowsize: n.windowsize,
          oack: n.oack,
          timeoutSeconds: n.timeoutSeconds,
          timing,
        },
        opened,
      );
      handle = null;
      transfers.set(key, transfer);
      stats.active++;
      const { outcome, counts } = await transfer.done;
      stats.active--;
      stats.bytesSent += outcome.bytes;
      stats.packetsSent += counts.sent;
      stats.packetsResent += counts.resent;
      for (const [event, n] of Object.entries(counts.packets)) stats.dropped[event as PacketEvent] += n;
      const durationMs = Math.round(performance.now() - started);
      const rec: TransferRecord = { ...base, node, status: outcome.status, bytes: outcome.bytes, durationMs };
      if (outcome.status === 'ok') {
        stats.transfersOk++;
        log.info({ ...rec }, 'tftp transfer complete');
      } else {
        rec.error = outcome.error;
        if (outcome.status === 'aborted') stats.transfersAborted++;
        else stats.transfersFailed++;
        log[outcome.status === 'aborted' ? 'info' : 'warn']({ ...rec }, `tftp transfer ${outcome.status}`);
      }
      report(rec);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      stats.dropped[err.reason]++;
      if (!closed) socket.send(encodeError(err.code, err.message), peer.port, peer.address);
      log.info({ path: base.path, peer, error: err.message }, 'tftp request refused');
      report({
        ...base,
        node,
        status: 'refused',
        error: err.message,
        durationMs: Math.round(performance.now() - started),
      });
    } finally {
      await handle?.close();
    }
  }

  async function openSource(file: TftpFile, mode: 'octet' | 'netascii'): Promise<WireSource> {
    if ('data' in file) return { data: mode === 'netascii' ? toNetascii(file.data) : file.data };
    let handle;
    try {
      // The resolver hands us a real path; O_NOFOLLOW keeps a symlink swapped in
      // since then from being followed, O_NONBLOCK keeps a FIFO from hanging open().
      handle = await open(file.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      throw new Refusal(ERR.FILE_NOT_FOUND, 'file not found', 'notFound');
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new Refusal(ERR.FILE_NOT_FOUND, 'file not found', 'notFound');
      if (mode === 'octet') return { handle, size: st.size };
      if (st.size > NETASCII_MAX)
        throw new Refusal(ERR.NOT_DEFINED, 'file too large for netascii, use octet', 'tooLarge');
      const data = await handle.readFile();
      await handle.close();
      return { data: toNetascii(data) };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
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
      for (const t of transfers.values()) t?.abort('server shutting down');
      // Bounded: a resolve hook that never settles must not hold shutdown forever.
      await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())]);
      await pool.close();
    },
  };
}
