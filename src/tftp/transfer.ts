// One read transfer, on its own socket (its TID, RFC 1350 §4).
//
// Blocks are numbered from 1 without limit here and sent modulo 65536, so a file
// of more than 65535 blocks rolls over to block 0 as tftp-hpa, iPXE and EDK2
// expect. A window of `windowsize` blocks (RFC 7440; 1 is plain lock-step) is sent,
// then the client's ACK decides what comes next:
//   - ACK of the window's last block: send the next window;
//   - ACK of a block inside the window: the client saw a gap; resend from there;
//   - ACK of a block already acknowledged (or older): ignored. Sending on such a
//     duplicate is the Sorcerer's Apprentice bug: every later block would go out
//     twice. Loss of a window's first block is therefore repaired by the timer.
// The timer is RFC 6298-style: smoothed RTT from windows that were not resent
// (Karn), doubled on every timeout up to a cap, and the transfer gives up with an
// ERROR packet after a bounded number of consecutive timeouts.
// A window goes out in one native call (udp.ts); sends are synchronous, so one
// frame buffer per transfer holds the window being sent.
import { datagramNow, type Datagram } from '../capture/pcap.js';
import {
  decode,
  encodeError,
  encodeOack,
  ERR,
  errorText,
  writeDataHeader,
  type Options,
  type TftpErrorPacket,
} from './packet.js';
import type { ByteSource } from './source.js';
import { ipToInt } from '../ip.js';
import { UdpSocket } from '../udp.js';

export interface Peer {
  address: string;
  port: number;
}

export interface RetransmitTiming {
  /** Before the first RTT sample. */
  rtoInitialMs: number;
  rtoMinMs: number;
  rtoMaxMs: number;
  /** Consecutive timeouts before the transfer is abandoned. */
  maxRetries: number;
}

// rtoMaxMs is above the 5 s that clients without an RFC 2349 timeout wait (tftp-hpa,
// atftp): a client that re-ACKs only when its own timer fires, and whose one ACK
// was lost, then gets its turn before the transfer is given up; with retransmissions
// arriving every 5 s or less its timer would never fire.
export const DEFAULT_TIMING: RetransmitTiming = { rtoInitialMs: 1000, rtoMinMs: 100, rtoMaxMs: 6000, maxRetries: 6 };

/** What happens on a transfer socket that is not the transfer's own progress. */
export type PacketEvent = 'stranger' | 'runt' | 'malformed' | 'badOpcode' | 'duplicateAck';

export interface TransferCounters {
  packet(event: PacketEvent): void;
  /** Datagrams sent, and how many of them were sent before. */
  sent(packets: number, resent: number): void;
}

export interface TransferSpec {
  peer: Peer;
  bindAddress: string;
  source: ByteSource;
  blksize: number;
  windowsize: number;
  oack: Options | null;
  /** RFC 2349 timeout from the client: replaces the RTT estimate as the retransmit interval. */
  timeoutSeconds: number | null;
  timing: RetransmitTiming;
  counters: TransferCounters;
  /**
   * The packets a capture keeps of this transfer: the OACK and the ACK of it, the
   * first and the last DATA block (each time sent) and their ACKs, ERRORs either way.
   * Not the blocks in between: a kernel would fill any capture.
   */
  capture(d: Datagram): void;
}

/** Why a transfer failed: see TftpFailureKind (report.ts). */
export type FailedKind = 'timeout' | 'io' | 'shutdown' | 'internal';

export type Outcome =
  | { status: 'ok'; bytes: number }
  /** `sent`: the ERROR packet that told the client, null when none could be sent. */
  | { status: 'failed'; bytes: number; error: string; kind: FailedKind; sent: TftpErrorPacket | null }
  /** The client sent an ERROR (EDK2 does so on purpose after its tsize probe). */
  | { status: 'aborted'; bytes: number; error: string };

export class Transfer {
  readonly done: Promise<Outcome>;
  private readonly socket: UdpSocket;
  private readonly peerIp: number;
  private frame = Buffer.alloc(0);
  /** The last failed send: a send that fails is a lost window, which the timer repairs; this names why if it cannot. */
  private sendError: string | null = null;
  private settle!: (o: Outcome) => void;
  private finished = false;

  private readonly lastBlock: number;
  private acked = 0; // highest block acknowledged, absolute
  private sent = 0; // highest block sent, absolute
  private oackPending: boolean;
  private generation = 0; // bumps on every send decision; a stale async read is dropped
  // One lazily re-armed timer: in lock-step a window goes out per ACK, and
  // clearing and creating a timer each time costs more than checking a deadline.
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private deadline = Infinity;
  private retries = 0;
  private windowSentAt = 0;
  private windowResent = false;
  private rto: number;
  private srtt: number | null = null;
  private rttvar = 0;

  private constructor(private readonly spec: TransferSpec) {
    this.peerIp = ipToInt(spec.peer.address);
    this.socket = new UdpSocket(spec.bindAddress, (msg, ip, port) => this.onMessage(msg, ip, port));
    this.lastBlock = Math.floor(spec.source.size / spec.blksize) + 1;
    this.oackPending = spec.oack !== null;
    this.rto = spec.timeoutSeconds !== null ? spec.timeoutSeconds * 1000 : spec.timing.rtoInitialMs;
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  /** Binds the transfer's socket (a fresh port: the server's TID) and starts sending. Throws if it cannot bind. */
  static start(spec: TransferSpec): Transfer {
    const t = new Transfer(spec);
    if (spec.oack) t.sendOack();
    else t.sendWindow(1);
    return t;
  }

  /** Ends the transfer from outside (server shutdown), telling the client why. */
  abort(reason: string): void {
    this.fail('shutdown', reason);
  }

  private get bytes(): number {
    return Math.min(this.acked * this.spec.blksize, this.spec.source.size);
  }

  private onMessage(msg: Buffer, ip: number, port: number): void {
    if (this.finished) return;
    const { peer, counters } = this.spec;
    const decoded = decode(msg);
    if (ip !== this.peerIp || port !== peer.port) {
      counters.packet('stranger');
      // RFC 1350: answer with error 5 and carry on; never answer an ERROR (no loops).
      if (!(decoded.ok && decoded.packet.op === 'error')) {
        this.socket.send(ip, port, encodeError(ERR.UNKNOWN_TID, 'Unknown transfer ID'));
      }
      return;
    }
    if (!decoded.ok) {
      counters.packet(decoded.reason === 'bad-opcode' ? 'badOpcode' : decoded.reason);
      return;
    }
    const p = decoded.packet;
    if (p.op === 'ack') this.onAck(p.block, msg);
    else if (p.op === 'error') {
      this.keep(false, msg);
      this.finish({ status: 'aborted', bytes: this.bytes, error: `client error ${p.code}: ${p.message}` });
    } else counters.packet('badOpcode');
  }

  private onAck(block: number, msg: Buffer): void {
    if (this.oackPending) {
      if (block !== 0) return this.spec.counters.packet('duplicateAck');
      this.keep(false, msg);
      this.oackPending = false;
      this.progress();
      return this.sendWindow(1);
    }
    const delta = (block - this.acked) & 0xffff;
    if (delta === 0 || delta > this.sent - this.acked) return this.spec.counters.packet('duplicateAck');
    if (this.acked === 0 || this.acked + delta >= this.lastBlock) this.keep(false, msg);
    this.acked += delta;
    this.progress();
    if (this.acked >= this.lastBlock) return this.finish({ status: 'ok', bytes: this.spec.source.size });
    // Whole window acknowledged, or a gap reported inside it: either way continue after the ACK.
    this.sendWindow(this.acked + 1);
  }

  /** An ACK moved the transfer forward: update the RTT estimate and reset the retry budget. */
  private progress(): void {
    this.clearTimer();
    this.retries = 0;
    if (this.spec.timeoutSeconds !== null) {
      this.rto = this.spec.timeoutSeconds * 1000;
      return;
    }
    if (this.windowResent) return; // Karn: an ACK for a resent window is ambiguous
    const r = performance.now() - this.windowSentAt;
    if (this.srtt === null) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    const { rtoMinMs, rtoMaxMs } = this.spec.timing;
    this.rto = Math.min(rtoMaxMs, Math.max(rtoMinMs, this.srtt + 4 * this.rttvar));
  }

  private sendOack(resend = false): void {
    const oack = encodeOack(this.spec.oack!);
    this.noteSend(this.socket.send(this.peerIp, this.spec.peer.port, oack));
    this.keep(true, oack);
    this.spec.counters.sent(1, resend ? 1 : 0);
    this.armTimer(resend);
  }

  private sendWindow(first: number): void {
    const gen = ++this.generation;
    const { blksize, windowsize, source } = this.spec;
    const last = Math.min(first + windowsize - 1, this.lastBlock);
    const offset = (first - 1) * blksize;
    const emit = (bytes: Buffer) => {
      if (gen !== this.generation || this.finished) return;
      const expected = Math.min((last - first + 1) * blksize, source.size - offset);
      if (bytes.length !== expected) return this.fail('io', 'file changed during transfer');
      // DATA packets back to back, each header before its block: the kernel cuts
      // the frame into one datagram per block (the last may be shorter).
      const segment = blksize + 4;
      const length = (last - first) * segment + 4 + bytes.length - (last - first) * blksize;
      if (this.frame.length < length) this.frame = Buffer.allocUnsafe(Math.min(windowsize, this.lastBlock) * segment);
      for (let b = first; b <= last; b++) {
        const at = (b - first) * blksize;
        const o = (b - first) * segment;
        writeDataHeader(this.frame, o, b);
        bytes.copy(this.frame, o + 4, at, Math.min(at + blksize, bytes.length));
      }
      this.noteSend(
        this.socket.sendSegments(this.peerIp, this.spec.peer.port, this.frame.subarray(0, length), segment),
      );
      if (first === 1) this.keep(true, this.frame.subarray(0, Math.min(segment, length)));
      if (last === this.lastBlock && last !== 1) this.keep(true, this.frame.subarray((last - first) * segment, length));
      const resent = Math.max(0, Math.min(this.sent, last) - first + 1);
      this.sent = Math.max(this.sent, last);
      this.spec.counters.sent(last - first + 1, resent);
      this.armTimer(resent > 0);
    };
    const bytes = source.slice(offset, (last - first + 1) * blksize);
    if (Buffer.isBuffer(bytes)) emit(bytes);
    else bytes.then(emit, (err: Error) => this.fail('io', `read: ${err.message}`));
  }

  /** A copy of `data` for the capture: the frame buffer is reused by the next window. */
  private keep(sent: boolean, data: Buffer): void {
    const ours = { address: this.spec.bindAddress, port: this.socket.port };
    this.spec.capture(datagramNow(sent, ours, this.spec.peer, new Uint8Array(data)));
  }

  private noteSend(error: string | null): void {
    if (error) this.sendError = error;
  }

  private armTimer(resent: boolean): void {
    this.windowSentAt = performance.now();
    this.windowResent = resent;
    this.deadline = this.windowSentAt + this.rto;
    // A pending timer that fires too late (the RTO shrank) is replaced; one that fires early re-arms itself.
    if (this.timer && this.timerAt > this.deadline + 1) this.stopTimer();
    if (!this.timer) this.startTimer(this.rto);
  }

  private startTimer(ms: number): void {
    this.timerAt = performance.now() + ms;
    this.timer = setTimeout(() => this.onTimer(), ms);
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Progress was made: nothing is outstanding until the next window goes out. */
  private clearTimer(): void {
    this.deadline = Infinity;
  }

  private onTimer(): void {
    this.timer = null;
    if (this.finished || this.deadline === Infinity) return;
    const left = this.deadline - performance.now();
    if (left > 1) return this.startTimer(left);
    this.onTimeout();
  }

  private onTimeout(): void {
    if (++this.retries > this.spec.timing.maxRetries) {
      const why = this.sendError ? ` (last send error: ${this.sendError})` : '';
      return this.fail('timeout', `timed out after ${this.spec.timing.maxRetries} retransmissions${why}`);
    }
    this.rto = Math.min(this.rto * 2, Math.max(this.spec.timing.rtoMaxMs, this.rto));
    if (this.oackPending) this.sendOack(true);
    else this.sendWindow(this.acked + 1);
  }

  /** Ends the transfer with an ERROR packet to the client. */
  private fail(kind: FailedKind, error: string): void {
    if (this.finished) return;
    this.finished = true;
    this.stopTimer();
    const sent = { code: ERR.NOT_DEFINED, message: errorText(error) };
    const packet = encodeError(sent.code, sent.message);
    this.socket.send(this.peerIp, this.spec.peer.port, packet);
    this.keep(true, packet);
    this.close();
    this.settle({ status: 'failed', bytes: this.bytes, error, kind, sent });
  }

  private finish(outcome: Outcome): void {
    if (this.finished) return;
    this.finished = true;
    this.stopTimer();
    this.close();
    this.settle(outcome);
  }

  private close(): void {
    this.socket.close();
  }
}
