// A scripted UDP peer for TFTP unit tests: send raw datagrams, await the next one.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { decode, type Packet } from '../../src/tftp/packet.js';

export interface Received {
  packet: Packet;
  raw: Buffer;
  from: { address: string; port: number };
}

export class UdpPeer {
  private queue: Received[] = [];
  private waiter: ((r: Received | null) => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('message', (raw: Buffer, rinfo: RemoteInfo) => {
      const d = decode(raw);
      if (!d.ok) return;
      const r = { packet: d.packet, raw, from: { address: rinfo.address, port: rinfo.port } };
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(r);
      } else this.queue.push(r);
    });
  }

  static async open(address = '127.0.0.1'): Promise<UdpPeer> {
    // Addresses are IP literals: a synchronous lookup makes send() leave at once, so
    // a datagram sent just before close() (a final ACK) is not dropped.
    const socket = createSocket({ type: 'udp4', lookup: (addr, _opts, cb) => cb(null, addr, 4) });
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new UdpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(buf: Buffer, port: number, address = '127.0.0.1'): void {
    this.socket.send(buf, port, address);
  }

  /** The next datagram, or null after timeoutMs. */
  next(timeoutMs = 10_000): Promise<Received | null> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, timeoutMs);
      this.waiter = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
    });
  }

  /** The next `n` datagrams, waiting at most ms in all (fewer when time runs out). */
  async take(n: number, ms = 10_000): Promise<Received[]> {
    const out: Received[] = [];
    const deadline = Date.now() + ms;
    while (out.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const r = await this.next(left);
      if (!r) break;
      out.push(r);
    }
    return out;
  }

  /** Everything that arrives within ms. */
  async drain(ms: number): Promise<Received[]> {
    const out: Received[] = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return out;
      const r = await this.next(left);
      if (!r) return out;
      out.push(r);
    }
  }

  close(): void {
    this.socket.close();
  }
}
