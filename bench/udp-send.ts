// The floor under a UDP server's send path on this machine: what sending one
// 1472-byte TFTP DATA datagram costs by Node's dgram, and by the native transfer
// socket (src/udp.ts) one datagram per call, a window of 16 per call by
// sendmmsg, and a window of 16 per call by UDP GSO. A windowed transfer sends one
// datagram per block, so this bounds a single transfer's throughput (bench/tftp's
// windowed figure), whatever the protocol code does. Loopback, one thread.
//   node dist/bench/udp-send.js [datagrams]
import { createSocket } from 'node:dgram';
import { ipToInt } from '../src/ip.js';
import { UdpSocket } from '../src/udp.js';

const N = Number(process.argv[2] ?? 200_000);
const BLOCK = 1468;
const WINDOW = 16;
const LOOPBACK = ipToInt('127.0.0.1');

function report(name: string, ns: bigint): void {
  const us = Number(ns) / 1000 / N;
  const mib = BLOCK / (us / 1e6) / 2 ** 20;
  console.log(
    `${name.padEnd(30)} ${us.toFixed(2).padStart(6)} us/datagram  = at most ${mib.toFixed(0).padStart(5)} MiB/s of ${BLOCK}-byte blocks`,
  );
}

async function dgram(port: number, connected: boolean): Promise<bigint> {
  const header = Buffer.alloc(4);
  const body = Buffer.alloc(BLOCK);
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  if (connected) await new Promise<void>((r) => s.connect(port, '127.0.0.1', r));
  const t0 = process.hrtime.bigint();
  await new Promise<void>((done) => {
    let sent = 0;
    let acked = 0;
    const onSent = () => {
      if (++acked === N) done();
    };
    const burst = () => {
      for (let k = 0; k < WINDOW && sent < N; k++, sent++) {
        if (connected) s.send([header, body], onSent);
        else s.send([header, body], port, '127.0.0.1', onSent);
      }
      if (sent < N) setImmediate(burst);
    };
    burst();
  });
  const ns = process.hrtime.bigint() - t0;
  s.close();
  return ns;
}

/** The native socket; window 1 is one sendto per datagram. Sends are synchronous. */
function native(port: number, window: number, segmentation: boolean): bigint {
  const s = new UdpSocket('127.0.0.1', () => undefined, { segmentation });
  const frame = Buffer.alloc(window * (BLOCK + 4));
  const t0 = process.hrtime.bigint();
  for (let sent = 0; sent < N; sent += window) {
    const err = window === 1 ? s.send(LOOPBACK, port, frame) : s.sendSegments(LOOPBACK, port, frame, BLOCK + 4);
    if (err) throw new Error(`send: ${err}`);
  }
  const ns = process.hrtime.bigint() - t0;
  s.close();
  return ns;
}

async function main(): Promise<void> {
  const rx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  rx.on('message', () => undefined);
  const port = rx.address().port;
  report('node:dgram unconnected', await dgram(port, false));
  report('node:dgram connected', await dgram(port, true));
  report('native sendto', native(port, 1, false));
  report(`native sendmmsg, window ${WINDOW}`, native(port, WINDOW, false));
  report(`native UDP GSO, window ${WINDOW}`, native(port, WINDOW, true));
  rx.close();
}

void main();
