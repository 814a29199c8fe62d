// The native transfer socket (native/udp.c) on loopback: a window sent in one call
// arrives as one datagram per segment, byte for byte, by UDP GSO and by the
// sendmmsg fallback alike; replies reach the handler with their source; errors
// come back as names; a closed socket refuses to send.
import t from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { ipToInt } from '../../src/ip.js';
import { TransferSocket } from '../../src/tftp/udp.js';

const LOOPBACK = ipToInt('127.0.0.1');

async function receiver(t: {
  teardown(fn: () => unknown): void;
}): Promise<{ socket: Socket; port: number; take(n: number): Promise<Buffer[]> }> {
  const socket = createSocket('udp4');
  // Large enough for a few hundred datagrams sent at once.
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  socket.setRecvBufferSize(8 * 1024 * 1024);
  t.teardown(() => socket.close());
  const got: Buffer[] = [];
  let want = 0;
  let wake: (() => void) | null = null;
  socket.on('message', (m) => {
    got.push(m);
    if (got.length >= want && wake) wake();
  });
  return {
    socket,
    port: socket.address().port,
    take(n) {
      want = n;
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(got.splice(0)), 3000);
        wake = () => {
          clearTimeout(timer);
          resolve(got.splice(0));
        };
        if (got.length >= n) wake();
      });
    },
  };
}

for (const segmentation of [true, false]) {
  t.test(`sendSegments by ${segmentation ? 'UDP GSO' : 'sendmmsg'}: one datagram per segment, intact`, async (t) => {
    const rx = await receiver(t);
    const sock = new TransferSocket('127.0.0.1', () => undefined, segmentation);
    t.teardown(() => sock.close());
    // 1468-byte blocks + 4-byte header; windows of 1, 16 and 100 segments (more than
    // one GSO send of at most 44 here), each with a shorter last one.
    for (const [segments, last] of [
      [1, 700],
      [16, 1],
      [100, 1000],
    ] as const) {
      const seg = 1472;
      const frame = randomBytes((segments - 1) * seg + last);
      t.equal(sock.sendSegments(LOOPBACK, rx.port, frame, seg), null);
      const got = await rx.take(segments);
      t.equal(got.length, segments, `${segments} datagrams`);
      t.same(
        got.map((d) => d.length),
        Array.from({ length: segments }, (_, i) => (i === segments - 1 ? last : seg)),
      );
      t.ok(Buffer.concat(got).equals(frame), 'bytes in order');
    }
  });
}

t.test('datagrams in and out: handler sees the source; errors are named', async (t) => {
  const rx = await receiver(t);
  const seen: Array<{ msg: string; address: number; port: number }> = [];
  const sock = new TransferSocket('127.0.0.1', (msg, address, port) =>
    seen.push({ msg: msg.toString(), address, port }),
  );
  t.ok(sock.port > 0, 'a port was bound');
  rx.socket.send('hello', sock.port, '127.0.0.1');
  const deadline = Date.now() + 3000;
  while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.same(seen, [{ msg: 'hello', address: LOOPBACK, port: rx.port }]);

  t.equal(sock.send(LOOPBACK, rx.port, Buffer.from('reply')), null);
  t.same((await rx.take(1)).map(String), ['reply']);
  // Port 0 is no destination: the kernel's refusal comes back by name.
  t.match(sock.send(LOOPBACK, 0, Buffer.from('x')), /^E[A-Z]+$/);

  sock.close();
  sock.close(); // twice is harmless
  t.throws(() => sock.send(LOOPBACK, rx.port, Buffer.from('late')), /socket is closed/);
});

t.test('binding a non-local address fails with the reason', async (t) => {
  t.throws(() => new TransferSocket('198.18.255.254', () => undefined), /bind: Cannot assign requested address/);
  t.throws(() => new TransferSocket('not-an-ip', () => undefined), /not an IPv4 address/);
});
