// One admitted read request, from name to finished transfer: the resolve hook
// says what to serve, the file is opened (or the rendered bytes taken), options
// are negotiated against the path MTU, a worker runs the transfer, and the
// outcome is counted and reported once (report.ts). Every refusal sends an error packet.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { normalizeRequestPath } from '../assets.js';
import type { Datagram } from '../capture/pcap.js';
import type { Logger } from '../log.js';
import { DEFAULT_BLKSIZE, negotiate } from './options.js';
import { ERR, errorText, OP, type Options } from './packet.js';
import type { TransferPool } from './pool.js';
import { shown } from '../untrusted.js';
import { refusal, type TftpFailure, type TftpFailureKind, type TransferRecord } from './report.js';
import { toNetascii } from './source.js';
import type { DropReason, TftpStats } from './stats.js';
import type { Outcome, PacketEvent, Peer, RetransmitTiming } from './transfer.js';
import { pathMtu } from '../udp.js';
import type { WireSource } from './worker.js';

/**
 * What the resolve hook serves: bytes rendered in memory (with, when they hold
 * secrets, the same bytes masked as a packet capture is to show them), or a file
 * on disk, with the caller's tag.
 */
export type TftpFile<T> = ({ data: Buffer; captureAs?: Buffer } | { path: string }) & { tag?: T };

export interface TftpRequestInfo {
  /** Normalised: `/` separators, no leading `/`, no `.` or `..` segments. */
  path: string;
  mode: 'octet' | 'netascii';
  peer: Peer;
  options: Options;
}

export interface RequestDeps<T> {
  host: string;
  limits: { blksizeMax: number; windowsizeMax: number };
  timing: RetransmitTiming;
  pool: TransferPool;
  stats: TftpStats;
  log: Logger;
  resolve(req: TftpRequestInfo): Promise<TftpFile<T> | null>;
  /** The transfer is running: it can be aborted from here on. */
  started(transfer: { abort(reason: string): void }): void;
  /** Send an error packet to the client; false when it was not sent (the server is closing). */
  refuse(peer: Peer, code: number, message: string): boolean;
  closing(): boolean;
  report(rec: TransferRecord<T>): void;
  /** The packets of a transfer that a capture keeps (see TransferSpec.capture), once it ended. */
  capture(peer: Peer, datagrams: Datagram[]): void;
}

// netascii is converted in memory (the converted size is needed for tsize);
// it is meant for text, so a large file in that mode is refused.
const NETASCII_MAX = 16 * 1024 * 1024;

/** A request refused before its transfer: `message` goes to the client, `detail` (untrusted parts) to the record. */
class Refusal extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly kind: TftpFailureKind & DropReason,
    readonly detail = message,
  ) {
    super(message);
  }
}

const notFound = () => new Refusal(ERR.FILE_NOT_FOUND, 'file not found', 'notFound');

export async function serveRequest<T>(
  deps: RequestDeps<T>,
  filename: string,
  mode: string,
  options: Options,
  peer: Peer,
): Promise<void> {
  const started = performance.now();
  const base = { path: filename, peer, bytes: 0, blksize: DEFAULT_BLKSIZE, windowsize: 1 };
  let tag: T | undefined;
  try {
    const req = checkRequest(filename, mode, options, peer);
    base.path = req.path;
    const file = await resolveFile(deps, req);
    tag = file.tag;
    const outcome = await transfer(deps, req, file, base);
    if (outcome) finished(deps, recordOf({ ...base, durationMs: elapsed(started) }, outcome, tag));
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    deps.stats.dropped[err.kind]++;
    const message = errorText(err.message);
    const sent = deps.refuse(peer, err.code, message) ? { code: err.code, message } : null;
    const failure: TftpFailure = { kind: err.kind, sent, detail: shown(err.detail) };
    const rec = refusal<T>(peer, base.path, failure, elapsed(started));
    deps.log.info({ path: rec.path, peer, error: failure.detail }, 'tftp request refused');
    deps.report({ ...rec, ...(tag !== undefined ? { tag } : {}) });
  }
}

const elapsed = (since: number) => Math.round(performance.now() - since);

function checkRequest(filename: string, mode: string, options: Options, peer: Peer): TftpRequestInfo {
  // tftp-hpa's answer; the mode itself (client bytes) goes to the record, not back on the wire.
  if (mode !== 'octet' && mode !== 'netascii') {
    throw new Refusal(ERR.ILLEGAL_OPERATION, 'Unknown mode', 'badMode', `unknown transfer mode "${mode}"`);
  }
  const name = normalizeRequestPath(filename);
  if (!name.ok) {
    throw new Refusal(ERR.ACCESS_VIOLATION, 'access violation', 'accessViolation', `name refused: ${name.reason}`);
  }
  return { path: name.path, mode, peer, options };
}

async function resolveFile<T>(deps: RequestDeps<T>, req: TftpRequestInfo): Promise<TftpFile<T>> {
  let file: TftpFile<T> | null;
  try {
    file = await deps.resolve(req);
  } catch (err) {
    deps.log.error({ err, path: req.path }, 'tftp resolve hook threw');
    throw new Refusal(ERR.NOT_DEFINED, 'internal error', 'resolveError', 'internal error: the resolve hook threw');
  }
  if (!file) throw notFound();
  return file;
}

type Base = { path: string; peer: Peer; bytes: number; blksize: number; windowsize: number };

/** Runs the transfer on a worker; null when the server closed meanwhile. */
async function transfer<T>(
  deps: RequestDeps<T>,
  req: TftpRequestInfo,
  file: TftpFile<T>,
  base: Base,
): Promise<Outcome | null> {
  const opened = await openSource(file, req.mode);
  let handle: FileHandle | null = 'handle' in opened ? opened.handle : null; // ours until the pool takes it
  try {
    if (deps.closing()) return null;
    const size = 'handle' in opened ? opened.size : opened.data.length;
    const n = negotiate(req.options, size, { ...deps.limits, pathMtu: pathMtu(req.peer.address) });
    const { blksize, windowsize, oack, timeoutSeconds } = n;
    base.blksize = blksize;
    base.windowsize = windowsize;
    const spec = {
      peer: req.peer,
      bindAddress: deps.host,
      blksize,
      windowsize,
      oack,
      timeoutSeconds,
      timing: deps.timing,
    };
    const running = deps.pool.run(spec, opened);
    handle = null;
    deps.started(running);
    deps.stats.active++;
    const { outcome, counts } = await running.done;
    deps.stats.active--;
    const masked = 'captureAs' in file ? file.captureAs : undefined;
    const shown = masked && req.mode === 'netascii' ? toNetascii(masked) : masked;
    deps.capture(req.peer, shown ? counts.captured.map((d) => showing(d, shown, blksize)) : counts.captured);
    count(deps.stats, outcome, counts);
    return outcome;
  } finally {
    await handle?.close();
  }
}

function recordOf<T>(facts: Base & { durationMs: number }, outcome: Outcome, tag: T | undefined): TransferRecord<T> {
  const rec = { ...facts, bytes: outcome.bytes, ...(tag !== undefined ? { tag } : {}) };
  if (outcome.status === 'ok') return { ...rec, status: 'ok' };
  const detail = shown(outcome.error);
  const failure: TftpFailure =
    outcome.status === 'aborted'
      ? { kind: 'aborted', sent: null, detail }
      : { kind: outcome.kind, sent: outcome.sent, detail };
  return { ...rec, path: shown(rec.path), status: outcome.status, failure };
}

function finished<T>(deps: RequestDeps<T>, rec: TransferRecord<T>): void {
  const { tag: _, ...logged } = rec;
  if (rec.status === 'ok') deps.log.info(logged, 'tftp transfer complete');
  else deps.log[rec.status === 'aborted' ? 'info' : 'warn'](logged, `tftp transfer ${rec.status}`);
  deps.report(rec);
}

/** A captured DATA packet with its block taken from `shown` (a file of the same length), others as they are. */
function showing(d: Datagram, shown: Buffer, blksize: number): Datagram {
  if (d.data.length < 4 || d.data[1] !== OP.DATA) return d;
  const at = (((d.data[2]! << 8) | d.data[3]!) - 1) * blksize;
  const data = new Uint8Array(d.data);
  data.set(shown.subarray(at, at + data.length - 4), 4);
  return { ...d, data };
}

type Finished = Awaited<ReturnType<TransferPool['run']>['done']>;

function count(stats: TftpStats, outcome: Finished['outcome'], counts: Finished['counts']): void {
  stats.bytesSent += outcome.bytes;
  stats.packetsSent += counts.sent;
  stats.packetsResent += counts.resent;
  for (const [event, n] of Object.entries(counts.packets)) stats.dropped[event as PacketEvent] += n;
  if (outcome.status === 'ok') stats.transfersOk++;
  else if (outcome.status === 'aborted') stats.transfersAborted++;
  else stats.transfersFailed++;
}

async function openSource<T>(file: TftpFile<T>, mode: 'octet' | 'netascii'): Promise<WireSource> {
  if ('data' in file) return { data: mode === 'netascii' ? toNetascii(file.data) : file.data };
  let handle;
  try {
    // The resolver hands us a real path; O_NOFOLLOW keeps a symlink swapped in
    // since then from being followed, O_NONBLOCK keeps a FIFO from hanging open().
    handle = await open(file.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    throw notFound();
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notFound();
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
