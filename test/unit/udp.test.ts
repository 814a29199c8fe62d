// The native UDP socket (native/udp.c) on loopback: a window sent in one call
// arrives as one datagram per segment, byte for byte, by UDP GSO and by the
// sendmmsg fallback alike; replies reach the handler with their source; errors
// come back as names; a closed socket refuses to send; datagrams sent soon leave
// together once the task ends, each with its own destination and its own answer;
// a fixed port binds beside a wildcard socket only with SO_REUSEADDR.
import t from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { ipToInt } from '../../src/ip.js';
import { UdpSocket } from '../../src/udp.js';

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
    const sock = new UdpSocket('127.0.0.1', () => undefined, { segmentation });
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
  const sock = new UdpSocket('127.0.0.1', (msg, address, port) => seen.push({ msg: msg.toString(), address, port }));
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
  t.throws(() => new UdpSocket('198.18.255.254', () => undefined), /bind: Cannot assign requested address/);
  t.throws(() => new UdpSocket('not-an-ip', () => undefined), /not an IPv4 address/);
});

t.test(
  'sendSoon: the datagrams of one task leave together after it, each to its destination, each with its answer',
  async (t) => {
    const a = await receiver(t);
    const b = await receiver(t);
    const sock = new UdpSocket('127.0.0.1', () => undefined);
    t.teardown(() => sock.close());
    const answers: Array<[string, string | null]> = [];
    const datagrams = 300; // more than one flush (256) and more than one sendmmsg (64)
    for (let i = 0; i < datagrams; i++) {
      const to = i % 2 === 0 ? a : b;
      sock.sendSoon(LOOPBACK, to.port, Buffer.from(`d${i}`), (e) => answers.push([`d${i}`, e]));
    }
    sock.sendSoon(LOOPBACK, 0, Buffer.from('nowhere'), (e) => answers.push(['nowhere', e]));
    sock.sendSoon(LOOPBACK, a.port, Buffer.from('last'), (e) => answers.push(['last', e]));
    t.equal(answers.length, 256, 'a full outbox is sent at once; the rest waits for the end of the task');
    await Promise.resolve();
    t.equal(answers.length, datagrams + 2, 'every datagram has its answer once the task is done');
    t.match(Object.fromEntries(answers), { nowhere: /^E[A-Z]+$/, last: null, d0: null, d299: null });
    const gotA = (await a.take(datagrams / 2 + 1)).map(String);
    const gotB = (await b.take(datagrams / 2)).map(String);
    t.same(
      gotA,
      [...Array.from({ length: datagrams / 2 }, (_, i) => `d${2 * i}`), 'last'],
      'in order, to its own destination',
    );
    t.same(
      gotB,
      Array.from({ length: datagrams / 2 }, (_, i) => `d${2 * i + 1}`),
    );
    sock.close();
    let late: string | null = null;
    sock.sendSoon(LOOPBACK, a.port, Buffer.from('late'), (e) => (late = e));
    t.equal(late, 'EBADF', 'after close a datagram is refused');
  },
);

t.test('sendSoon from inside an answer: a whole outbox sent there loses and repeats nothing', async (t) => {
  const a = await receiver(t);
  const sock = new UdpSocket('127.0.0.1', () => undefined);
  t.teardown(() => sock.close());
  const answered: string[] = [];
  const send = (name: string, then?: () => void) =>
    sock.sendSoon(LOOPBACK, a.port, Buffer.from(name), (e) => {
      answered.push(e === null ? name : `${name}:${e}`);
      then?.();
    });
  // The first answer sends a full outbox (256): it is flushed at once, inside the first flush's answers.
  send('first', () => {
    for (let i = 0; i < 256; i++) send(`inner${i}`);
  });
  send('second');
  await Promise.resolve();
  await Promise.resolve();
  const inner = Array.from({ length: 256 }, (_, i) => `inner${i}`);
  t.same(answered, ['first', ...inner, 'second'], 'each answered once, the nested ones before the rest of the first');
  const got = (await a.take(258)).map(String);
  t.same(got, ['first', 'second', ...inner], 'each sent once, in the order of the flushes');
});

t.test('a fixed port: beside a wildcard socket only with SO_REUSEADDR; the error has its code', async (t) => {
  const wildcard = new UdpSocket('0.0.0.0', () => undefined, { reuseAddress: true });
  t.teardown(() => wildcard.close());
  t.throws(() => new UdpSocket('127.0.0.1', () => undefined, { port: wildcard.port }), {
    code: 'EADDRINUSE',
    message: /bind: Address already in use/,
  });
  const beside = new UdpSocket('127.0.0.1', () => undefined, {
    port: wildcard.port,
    reuseAddress: true,
    broadcast: true,
    recvBuffer: 1 << 20,
  });
  t.equal(beside.port, wildcard.port);
  beside.close();
});
