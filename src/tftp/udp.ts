// The transfer socket: native/udp.c, which sends a whole TFTP window in one call
// (UDP GSO, or sendmmsg where the kernel refuses GSO). Why it is native and not
// node:dgram is said at the top of that file.
import { getSystemErrorName } from 'node:util';
import { ipToInt } from '../ip.js';
import { native } from '../native.js';

// RACKJOIN_TFTP_GSO=0 sends each datagram of a window by sendmmsg instead, as the
// QUIC stacks allow (quic-go's QUIC_GO_DISABLE_GSO): for a path that mishandles
// GSO without refusing it, and to test and measure the fallback.
const segmentationByDefault = process.env.RACKJOIN_TFTP_GSO !== '0';

export type OnDatagram = (msg: Buffer, address: number, port: number) => void;

/** The MTU of the route to `address` (a smaller one when PMTU discovery learned it), or null without a route. */
export function pathMtu(address: string): number | null {
  return native.pathMtu(ipToInt(address)) || null;
}

export class TransferSocket {
  readonly port: number;
  private handle: unknown;
  private closed = false;

  /** Binds a fresh port on `address`; datagrams arrive on the thread's event loop. */
  constructor(address: string, onDatagram: OnDatagram, segmentation = segmentationByDefault) {
    [this.handle, this.port] = native.bind(address, onDatagram, segmentation);
  }

  /** null when sent; otherwise the error name (EAGAIN: the socket buffer is full, the datagram is lost). */
  send(address: number, port: number, data: Buffer): string | null {
    return sendResult(native.send(this.handle, address, port, data, 0));
  }

  /** `data` is consecutive datagrams of `segment` bytes (the last may be shorter), each sent as its own datagram. */
  sendSegments(address: number, port: number, data: Buffer, segment: number): string | null {
    return sendResult(native.send(this.handle, address, port, data, segment));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.close(this.handle);
  }
}

function sendResult(errno: number): string | null {
  return errno === 0 ? null : getSystemErrorName(-errno);
}
