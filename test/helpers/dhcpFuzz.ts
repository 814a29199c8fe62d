// Run inside a lab namespace: throw `count` broken or random DHCP datagrams at a
// server, unicast and broadcast, then exit. Deterministic (seeded), bounded.
//   node dhcpFuzz.js <bindIp> <serverIp> <count>
import { createSocket } from 'node:dgram';
import { buildRequest, CAPTURED } from './dhcp.js';

const [bindIp, server, countArg] = process.argv.slice(2);
const count = Number(countArg);
let seed = 7;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const real = Object.values(CAPTURED).flatMap((o) =>
  [1, 3, 4, 7, 8].map((type) => buildRequest({ type, options: o, mac: '02:ff:00:00:00:01' })),
);

function datagram(i: number): Buffer {
  const kind = i % 5;
  if (kind === 0) {
    const b = Buffer.allocUnsafe(rand(700));
    for (let j = 0; j < b.length; j++) b[j] = rand(256);
    return b; // noise of any length, mostly too short or without the cookie
  }
  const src = real[rand(real.length)]!;
  if (kind === 1) return Buffer.from(src.subarray(0, rand(src.length + 1))); // truncated anywhere
  const b = Buffer.from(src);
  if (kind === 2) {
    // random option area behind a valid header and cookie
    const opts = Buffer.allocUnsafe(rand(400));
    for (let j = 0; j < opts.length; j++) opts[j] = rand(256);
    return Buffer.concat([b.subarray(0, 240), opts]);
  }
  if (kind === 3) {
    for (let k = 0; k < 1 + rand(8); k++) b[240 + rand(b.length - 240)] = rand(256); // flipped option bytes
    return b;
  }
  for (let k = 0; k < 1 + rand(4); k++) b[rand(240)] = rand(256); // mangled header (op, hlen, chaddr, cookie...)
  return b;
}

const sock = createSocket('udp4');
sock.bind({ address: bindIp, port: 0 }, async () => {
  sock.setBroadcast(true);
  for (let i = 0; i < count; i++) {
    const to = i % 2 === 0 ? server! : '255.255.255.255';
    await new Promise<void>((resolve) => sock.send(datagram(i), 67, to, () => resolve()));
    // ~10,000/s: fast, but slow enough that the server reads them instead of the kernel dropping them.
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
  }
  sock.close();
});
