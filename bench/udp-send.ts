// The floor under any Node UDP server: what one dgram send costs on this machine.
// TFTP with windowsize sends one datagram per block, so this bounds a single
// transfer's throughput (bench/tftp's windowed figure), whatever the protocol code does.
//   node dist/bench/udp-send.js [datagrams]
import { createSocket } from 'node:dgram';

const N = Number(process.argv[2] ?? 200_000);
const BLOCK = 1468;

async function main(): Promise<void> {
  const rx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  rx.on('message', () => undefined);
  const port = rx.address().port;
  const header = Buffer.alloc(4);
  const body = Buffer.alloc(BLOCK);
  for (const connected of [false, true]) {
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
      // Windows of 16, as a windowed TFTP transfer sends them.
      const burst = () => {
        for (let k = 0; k < 16 && sent < N; k++, sent++) {
          if (connected) s.send([header, body], onSent);
          else s.send([header, body], port, '127.0.0.1', onSent);
        }
        if (sent < N) setImmediate(burst);
      };
      burst();
    });
    const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
    const mib = (BLOCK / (us / 1e6)) / 2 ** 20;
    console.log(`${connected ? 'connected  ' : 'unconnected'}  ${us.toFixed(2)} us/datagram  = at most ${mib.toFixed(0)} MiB/s of ${BLOCK}-byte blocks on one thread`);
    s.close();
  }
  rx.close();
}

void main();
