// The transfer socket: native/udp.c, which sends a whole TFTP window in one call
// (UDP GSO, or sendmmsg where the kernel refuses GSO). Why it is native and not
// node:dgram is said at the top of that file.
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';

interface Native {
  bind(address: string, onMessage: (msg: Buffer, address: number, port: number) => void, segmentation: boolean): [unknown, number];
  /** segment 0: data is one datagram. */
  send(socket: unknown, address: number, port: number, data: Buffer, segment: number): number;
  close(socket: unknown): void;
  pathMtu(address: number): number;
}

// Built by `npm run build` (node-gyp) into build/Release, three levels above dist/src/tftp/.
const native = loadNative('../../../build/Release/rackjoin_udp.node');

function loadNative(path: string): Native {
  try {
    return createRequire(import.meta.url)(path) as Native;
  } catch (err) {
    throw new Error(`the TFTP socket addon (native/udp.c) is not built: run npm run build (${(err as Error).message})`, { cause: err });
  }
}

// RACKJOIN_TFTP_GSO=0 sends each datagram of a window by sendmmsg instead, as the
// QUIC stacks allow (quic-go's QUIC_GO_DISABLE_GSO): for a path that mishandles
// GSO without refusing it, and to test and measure the fallback.
const segmentationByDefault = process.env.RACKJOIN_TFTP_GSO !== '0';

export type OnDatagram = (msg: Buffer, address: number, port: number) => void;

/** An IPv4 address as the uint32 the native side uses. */
export function ipv4ToNumber(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${address}`);
  }
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** The MTU of the route to `address` (a smaller one when PMTU discovery learned it), or null without a route. */
export function pathMtu(address: string): number | null {
  return native.pathMtu(ipv4ToNumber(address)) || null;
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
