// What the TFTP server hands to the packet capture, against a scripted client on
// loopback: the request, the OACK and its ACK, the first and the last DATA block
// and their ACKs (not the blocks between), every ERROR either way, and the masked
// bytes in place of a file's own where the resolve hook gives them.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import type { Datagram } from '../../src/capture/pcap.js';
import { createLogger } from '../../src/log.js';
import { decode, encodeAck, encodeRequest, OP, type Packet } from '../../src/tftp/packet.js';
import { startTftpServer, type Peer, type TftpFile, type TftpServerOptions } from '../../src/tftp/server.js';
import { UdpPeer } from '../helpers/udp-peer.js';

const log = createLogger({ level: 'silent' });

interface Kept {
  peer: Peer;
  d: Datagram;
  packet: Packet;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

async function setup(
  t: Teardownable,
  files: Record<string, TftpFile<never>>,
  extra: Partial<TftpServerOptions<never>> = {},
) {
  const kept: Kept[] = [];
  const server = await startTftpServer<never>({
    host: '127.0.0.1',
    port: 0,
    workers: 1,
    log,
    resolve: async (req) => files[req.path] ?? null,
    capture: (peer, datagrams) => {
      for (const d of datagrams) {
        const decoded = decode(Buffer.from(d.data));
        if (!decoded.ok) throw new Error('the capture holds a packet that does not decode');
        kept.push({ peer, d, packet: decoded.packet });
      }
    },
    ...extra,
  });
  t.teardown(() => server.close());
  const client = await UdpPeer.open();
  t.teardown(() => client.close());
  return { server, port: server.address().port, client, kept };
}

/** Waits (bounded) for the server's asynchronous hand-over. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

const summary = (k: Kept) => {
  const p = k.packet;
  const what = p.op === 'data' || p.op === 'ack' ? `${p.op} ${p.block}` : p.op;
  return `${k.d.src === '127.0.0.1' && k.d.sport === k.peer.port ? 'in' : 'out'} ${what}`;
};

t.test('a windowed transfer: RRQ, OACK, ACK 0, first and last DATA and their ACKs', async (t) => {
  const body = randomBytes(512 * 4 + 52); // blocks 1-4 full, block 5 short
  const masked = Buffer.alloc(body.length, '*');
  const h = await setup(t, { 'pxelinux.cfg/x': { data: body, captureAs: masked } });
  h.client.send(encodeRequest('rrq', 'pxelinux.cfg/x', 'octet', { windowsize: '2' }), h.port);
  const oack = await h.client.next();
  t.match(oack?.packet, { op: 'oack', options: { windowsize: '2' } });
  const tid = oack!.from.port;
  h.client.send(encodeAck(0), tid);
  const got: Buffer[] = [];
  for (const ackAfter of [2, 4, 5]) {
    while (got.length < ackAfter) {
      const r = await h.client.next();
      if (r?.packet.op !== 'data') throw new Error('expected DATA');
      got.push(Buffer.from(r.packet.payload));
    }
    h.client.send(encodeAck(ackAfter), tid);
  }
  t.ok(Buffer.concat(got).equals(body), 'the client got the real file');
  await until(() => h.kept.length >= 7);
  const kept = [...h.kept].sort((a, b) => a.d.ts - b.d.ts);
  t.same(kept.map(summary), ['in rrq', 'out oack', 'in ack 0', 'out data 1', 'in ack 2', 'out data 5', 'in ack 5']);
  const rrq = kept[0]!.d;
  t.match(rrq, { src: '127.0.0.1', sport: h.client.port, dst: '127.0.0.1', dport: h.port }, 'to the listening port');
  t.match(kept[1]!.d, { src: '127.0.0.1', sport: tid, dst: '127.0.0.1', dport: h.client.port }, 'from the TID');
  const payload = (k: Kept) => Buffer.from(k.d.data.subarray(4));
  t.same(payload(kept[3]!), masked.subarray(0, 512), 'DATA 1 shows the masked bytes');
  t.same(payload(kept[5]!), masked.subarray(2048), 'and so does the last block');
  t.equal(kept[5]!.d.data.length, 4 + 52);
});

t.test('a refused request: the RRQ and the ERROR from the listening port', async (t) => {
  const h = await setup(t, {});
  h.client.send(encodeRequest('rrq', 'nope', 'octet'), h.port);
  t.match((await h.client.next())?.packet, { op: 'error' });
  await until(() => h.kept.length >= 2);
  t.same(h.kept.map(summary), ['in rrq', 'out error']);
  t.match(h.kept[1]!.d, { sport: h.port, dport: h.client.port });
  t.equal(h.kept[1]!.d.data[1], OP.ERROR);
});

t.test('an unanswered transfer: each send of DATA 1, then the ERROR it ends with', async (t) => {
  const h = await setup(
    t,
    { f: { data: randomBytes(2000) } },
    { timing: { rtoInitialMs: 50, rtoMinMs: 50, rtoMaxMs: 50, maxRetries: 2 } },
  );
  h.client.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  await until(() => h.kept.some((k) => k.packet.op === 'error'));
  t.same(h.kept.map(summary), ['in rrq', 'out data 1', 'out data 1', 'out data 1', 'out error']);
  t.match(h.kept[4]!.packet, { op: 'error', message: /timed out/ });
});
