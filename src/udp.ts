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
  // The outbox: two sets of arrays, one filling while the other's callbacks run (a
  // callback may send again). Reused, not allocated per flush: the DHCP server
  // flushes once per reply at moderate rates.
  private outbox: Outbox = newOutbox();
  /** The other set; null while its callbacks run (a flush from inside one gets a fresh set). */
  private spare: Outbox | null = newOutbox();
  private flushQueued = false;
  private readonly flushNow = () => this.flush();

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
    const box = this.outbox;
    const i = box.count++;
    box.datagrams[i] = data;
    box.done[i] = done;
    box.addresses[i] = address;
    box.ports[i] = port;
    if (box.count === OUTBOX) this.flush();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushNow);
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
    const box = this.outbox;
    const n = box.count;
    if (n === 0) return;
    box.datagrams.length = n;
    native.sendEach(this.handle, box.datagrams, box.addresses, box.ports, box.errors);
    // A callback may send again: that fills the other set.
    this.outbox = this.spare ?? newOutbox();
    this.spare = null;
    for (let i = 0; i < n; i++) {
      const e = box.errors[i]!;
      const done = box.done[i]!;
      box.datagrams[i] = EMPTY;
      box.done[i] = ignore;
      done(e === 0 ? null : getSystemErrorName(-e));
    }
    box.count = 0;
    this.spare = box;
  }
}

interface Outbox {
  count: number;
  datagrams: Buffer[];
  done: SendDone[];
  addresses: Uint32Array;
  ports: Uint16Array;
  errors: Int32Array;
}

const EMPTY = Buffer.alloc(0);
const ignore: SendDone = () => {};

function newOutbox(): Outbox {
  return {
    count: 0,
    datagrams: [],
    done: [],
    addresses: new Uint32Array(OUTBOX),
    ports: new Uint16Array(OUTBOX),
    errors: new Int32Array(OUTBOX),
  };
}

function sendResult(errno: number): string | null {
  return errno === 0 ? null : getSystemErrorName(-errno);
}
