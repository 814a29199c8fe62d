// UDP sockets on native/udp.c: TFTP transfers, which send a whole window in one
// call (UDP GSO, or sendmmsg where the kernel refuses GSO), and the DHCP server.
// Why native and not node:dgram is said at the top of that file.
import { getSystemErrorName } from 'node:util';
import { ipToInt } from './ip.js';
import { native } from './native.js';

// RACKJOIN_TFTP_GSO=0 sends each datagram of a window by sendmmsg instead, as the
// QUIC stacks allow (quic-go's QUIC_GO_DISABLE_GSO): for a path that mishandles
// GSO without refusing it, and to test and measure the fallback.
const segmentationByDefault = process.env.RACKJOIN_TFTP_GSO !== '0';

// native/udp.c's bind flags.
const SEGMENTATION = 1;
const REUSE_ADDRESS = 2;
const BROADCAST = 4;

export type OnDatagram = (msg: Buffer, address: number, port: number) => void;

export interface UdpOptions {
  /** 0 (the default): a fresh port, as a TFTP transfer's TID. */
  port?: number;
  /** SO_REUSEADDR: Linux needs it to bind an address next to a wildcard socket on the same port. */
  reuseAddress?: boolean;
  broadcast?: boolean;
  /** SO_RCVBUF in bytes (the kernel caps it at net.core.rmem_max); absent: the default. */
  recvBuffer?: number;
  /** Send windows by UDP GSO (RACKJOIN_TFTP_GSO=0 turns it off by default). */
  segmentation?: boolean;
}

/** The MTU of the route to `address` (a smaller one when PMTU discovery learned it), or null without a route. */
export function pathMtu(address: string): number | null {
  return native.pathMtu(ipToInt(address)) || null;
}

/** Hears whether the kernel took a datagram sent by `sendSoon`: null, or the error's name. */
export type SendDone = (error: string | null) => void;

// At most this many datagrams wait for one flush (the addon sends 64 per sendmmsg).
const OUTBOX = 256;

export class UdpSocket {
  readonly port: number;
  private handle: unknown;
  private closed = false;
  private readonly outbox: Buffer[] = [];
  private readonly outboxDone: SendDone[] = [];
  private readonly addresses = new Uint32Array(OUTBOX);
  private readonly ports = new Uint16Array(OUTBOX);
  private readonly errors = new Int32Array(OUTBOX);
  private flushQueued = false;

  /**
   * Binds `address` (a fresh port unless one is given); datagrams arrive on the thread's event loop.
   * Throws with the errno's name as `code` (EADDRINUSE).
   */
  constructor(address: string, onDatagram: OnDatagram, opts: UdpOptions = {}) {
    const flags =
      ((opts.segmentation ?? segmentationByDefault) ? SEGMENTATION : 0) |
      (opts.reuseAddress ? REUSE_ADDRESS : 0) |
      (opts.broadcast ? BROADCAST : 0);
    const onSlab = (slab: Buffer, offset: number, length: number, ip: number, port: number) =>
      onDatagram(slab.subarray(offset, offset + length), ip, port);
    [this.handle, this.port] = native.bind(address, opts.port ?? 0, onSlab, flags, opts.recvBuffer ?? 0);
  }

  /** null when sent; otherwise the error name (EAGAIN: the socket buffer is full, the datagram is lost). */
  send(address: number, port: number, data: Buffer): string | null {
    return sendResult(native.send(this.handle, address, port, data, 0));
  }

  /**
   * Send `data` once the current task is done, in one sendmmsg with everything else
   * sent meanwhile (the replies to a burst of requests read together); `done` hears
   * the kernel's answer. A datagram sent after close() is refused with EBADF.
   */
  sendSoon(address: number, port: number, data: Buffer, done: SendDone): void {
    if (this.closed) return done('EBADF');
    const i = this.outbox.length;
    this.outbox.push(data);
    this.outboxDone.push(done);
    this.addresses[i] = address;
    this.ports[i] = port;
    if (this.outbox.length === OUTBOX) this.flush();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** `data` is consecutive datagrams of `segment` bytes (the last may be shorter), each sent as its own datagram. */
  sendSegments(address: number, port: number, data: Buffer, segment: number): string | null {
    return sendResult(native.send(this.handle, address, port, data, segment));
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    native.close(this.handle);
  }

  private flush(): void {
    this.flushQueued = false;
    const n = this.outbox.length;
    if (n === 0) return;
    const datagrams = this.outbox.splice(0);
    const done = this.outboxDone.splice(0);
    native.sendEach(this.handle, datagrams, this.addresses, this.ports, this.errors);
    // Read before any callback runs: a callback may send again, which refills the arrays.
    const errors = Array.from(this.errors.subarray(0, n), (e) => (e === 0 ? null : getSystemErrorName(-e)));
    for (let i = 0; i < n; i++) done[i]!(errors[i]!);
  }
}

function sendResult(errno: number): string | null {
  return errno === 0 ? null : getSystemErrorName(-errno);
}
