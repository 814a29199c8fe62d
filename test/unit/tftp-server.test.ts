// The server against scripted peers on loopback: option negotiation, windows and
// ACK handling, rollover, retransmission, strangers, refusals, limits and close().
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { encodeAck, encodeError, encodeRequest, ERR, type Options } from '../../src/tftp/packet.js';
import {
  startTftpServer,
  type TftpServer,
  type TftpServerOptions,
  type TransferRecord,
} from '../../src/tftp/server.js';
import { UdpPeer } from '../helpers/udp-peer.js';

const log = createLogger({ level: 'silent' });

interface Teardownable {
  teardown(fn: () => unknown): void;
}

interface Harness {
  server: TftpServer;
  port: number;
  records: TransferRecord<string>[];
}

async function harness(
  tt: Teardownable,
  files: Record<string, Buffer | { path: string }>,
  extra: Partial<TftpServerOptions<string>> = {},
): Promise<Harness> {
  const records: TransferRecord<string>[] = [];
  const server = await startTftpServer<string>({
    host: '127.0.0.1',
    port: 0,
    windowsizeMax: 64,
    workers: 1,
    log,
    timing: { rtoInitialMs: 400, rtoMinMs: 400 },
    async resolve(req) {
      const f = files[req.path];
      if (!f) return null;
      return Buffer.isBuffer(f) ? { data: f, tag: 'n1' } : f;
    },
    onTransfer: (r) => records.push(r),
    ...extra,
  });
  tt.teardown(() => server.close());
  return { server, port: server.address().port, records };
}

async function peer(tt: Teardownable): Promise<UdpPeer> {
  const p = await UdpPeer.open();
  tt.teardown(() => p.close());
  return p;
}

/** Waits (bounded) for a condition set by the server's asynchronous completion. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** An RFC 7440 receiver: ACKs the last block of each window, or the last in-order block on a gap. */
async function fetch(
  h: Harness,
  p: UdpPeer,
  name: string,
  options: Options = {},
  how: { duplicateAcks?: boolean; onBlock?: (wire: number) => void } = {},
): Promise<{ data: Buffer; oack: Options | null; dataPackets: number }> {
  p.send(encodeRequest('rrq', name, 'octet', options), h.port);
  let blksize = 512;
  let windowsize = 1;
  let oack: Options | null = null;
  const chunks: Buffer[] = [];
  let expected = 1; // absolute
  let inWindow = 0;
  let dataPackets = 0;
  const ack = (n: number, to: number) => {
    p.send(encodeAck(n), to);
    if (how.duplicateAcks) p.send(encodeAck(n), to);
  };
  for (let guard = 0; guard < 1_000_000; guard++) {
    const r = await p.next();
    if (!r) throw new Error(`no packet after block ${expected - 1}`);
    const pk = r.packet;
    if (pk.op === 'error') throw new Error(`error ${pk.code}: ${pk.message}`);
    if (pk.op === 'oack') {
      oack = { ...pk.options };
      blksize = Number(pk.options.blksize ?? 512);
      windowsize = Number(pk.options.windowsize ?? 1);
      ack(0, r.from.port);
      continue;
    }
    if (pk.op !== 'data') continue;
    dataPackets++;
    if (pk.block !== (expected & 0xffff)) {
      // Gap or duplicate: re-acknowledge what we have, as RFC 7440 receivers do.
      if (((pk.block - expected) & 0xffff) < 0x8000) ack((expected - 1) & 0xffff, r.from.port);
      inWindow = 0;
      continue;
    }
    how.onBlock?.(pk.block);
    chunks.push(Buffer.from(pk.payload));
    expected++;
    inWindow++;
    const last = pk.payload.length < blksize;
    if (last || inWindow === windowsize) {
      ack(pk.block, r.from.port);
      inWindow = 0;
    }
    if (last) return { data: Buffer.concat(chunks), oack, dataPackets };
  }
  throw new Error('unreachable');
}

t.test('lock-step transfer without options (RFC 1350)', async (t) => {
  const body = randomBytes(512 * 3 + 100);
  const h = await harness(t, { 'a.bin': body });
  const got = await fetch(h, await peer(t), 'a.bin');
  t.equal(got.oack, null, 'no OACK when no option was asked for');
  t.ok(got.data.equals(body));
  t.equal(got.dataPackets, 4);
  await until(() => h.records.length > 0);
  t.match(h.records, [{ path: 'a.bin', status: 'ok', bytes: body.length, blksize: 512, windowsize: 1, tag: 'n1' }]);
});

t.test('a size that is a multiple of blksize ends with an empty block', async (t) => {
  const body = randomBytes(1024);
  const h = await harness(t, { f: body });
  const got = await fetch(h, await peer(t), 'f');
  t.ok(got.data.equals(body));
  t.equal(got.dataPackets, 3);
});

t.test('options: OACK with blksize, tsize, timeout, windowsize', async (t) => {
  const body = randomBytes(100_000);
  const h = await harness(t, { f: body });
  const got = await fetch(h, await peer(t), 'f', {
    blksize: '1468',
    tsize: '0',
    timeout: '2',
    windowsize: '16',
    rollover: '0',
  });
  t.same(got.oack, { blksize: '1468', tsize: '100000', timeout: '2', windowsize: '16' });
  t.ok(got.data.equals(body));
  t.equal(got.dataPackets, Math.floor(100_000 / 1468) + 1, 'no block sent twice on a clean link');
});

t.test("duplicate ACKs never double-send (Sorcerer's Apprentice)", async (t) => {
  const body = randomBytes(512 * 200 + 1);
  for (const windowsize of ['1', '8']) {
    const h = await harness(t, { f: body }, { timing: { rtoInitialMs: 2000, rtoMinMs: 2000 } });
    const got = await fetch(h, await peer(t), 'f', { windowsize }, { duplicateAcks: true });
    t.ok(got.data.equals(body), `windowsize ${windowsize} intact`);
    t.equal(got.dataPackets, 201, `windowsize ${windowsize}: every block sent exactly once`);
    await until(() => h.records.length > 0); // counters land when the transfer ends
    // The duplicate of the final ACK may arrive after the transfer closed.
    t.ok(h.server.stats().dropped.duplicateAck >= Math.ceil(201 / Number(windowsize)) - 1);
    t.equal(h.server.stats().packetsResent, 0);
  }
});

t.test('an ACK inside the window restarts the window after it (RFC 7440)', async (t) => {
  const body = randomBytes(8 * 20);
  const h = await harness(t, { f: body });
  const p = await peer(t);
  p.send(encodeRequest('rrq', 'f', 'octet', { blksize: '8', windowsize: '4' }), h.port);
  const oack = await p.next();
  t.equal(oack?.packet.op, 'oack');
  p.send(encodeAck(0), oack!.from.port);
  const first = await p.take(4);
  t.same(
    first.map((r) => r.packet.op === 'data' && r.packet.block),
    [1, 2, 3, 4],
  );
  p.send(encodeAck(2), oack!.from.port);
  const second = await p.take(4);
  t.same(
    second.map((r) => r.packet.op === 'data' && r.packet.block),
    [3, 4, 5, 6],
  );
  p.send(encodeAck(2), oack!.from.port);
  p.send(encodeAck(1), oack!.from.port);
  t.same(await p.drain(150), [], 'stale and duplicate ACKs send nothing');
  p.send(encodeError(0, 'enough'), oack!.from.port);
});

t.test('block numbers roll over past 65535 to 0', async (t) => {
  const body = randomBytes(8 * 65_540 + 3); // 65541 blocks of 8 bytes
  const h = await harness(t, { f: body });
  const wire: number[] = [];
  const got = await fetch(
    h,
    await peer(t),
    'f',
    { blksize: '8', windowsize: '64' },
    {
      onBlock: (b) => {
        if (wire.length < 8 && (b >= 65534 || b <= 2)) wire.push(b);
      },
    },
  );
  t.ok(got.data.equals(body), 'intact');
  t.same(wire, [1, 2, 65534, 65535, 0, 1, 2], 'wire numbers wrap to 0');
  t.equal(got.dataPackets, 65_541);
});

t.test('a large file is read from disk in chunks and arrives intact', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-tftp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const body = randomBytes(3 * 1024 * 1024 + 17);
  writeFileSync(join(dir, 'big'), body);
  const h = await harness(t, { big: { path: join(dir, 'big') } });
  const got = await fetch(h, await peer(t), 'big', { blksize: '1468', windowsize: '32', tsize: '0' });
  t.equal(got.oack?.tsize, String(body.length));
  t.ok(got.data.equals(body));
});

t.test('no ACK: bounded retransmission with backoff, then an ERROR', async (t) => {
  const h = await harness(
    t,
    { f: randomBytes(100) },
    { timing: { rtoInitialMs: 50, rtoMinMs: 50, rtoMaxMs: 200, maxRetries: 3 } },
  );
  const p = await peer(t);
  const t0 = Date.now();
  p.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  // Counted, not timed: a loaded machine may stretch the intervals, never change the sequence.
  const got = await p.take(5);
  const ops = got.map((r) => r.packet.op);
  t.same(ops, ['data', 'data', 'data', 'data', 'error'], 'first send, 3 retransmissions, then ERROR');
  t.ok(Date.now() - t0 >= 50 + 100 + 200 + 200 - 20, 'intervals back off');
  t.same(await p.drain(300), [], 'nothing after the ERROR');
  await until(() => h.records.length > 0, 5000);
  const sent = got[4]!.packet;
  t.match(h.records, [{ status: 'failed', path: 'f', failure: { kind: 'timeout', detail: /timed out/ } }]);
  t.same(
    h.records[0]!.status !== 'ok' && h.records[0]!.failure.sent,
    sent.op === 'error' && { code: sent.code, message: sent.message },
    'the record holds the ERROR as sent',
  );
  t.equal(h.server.stats().transfersFailed, 1);
});

t.test('a stranger gets error 5 and the transfer goes on', async (t) => {
  const body = randomBytes(512 * 4);
  const h = await harness(t, { f: body });
  const p = await peer(t);
  const stranger = await peer(t);
  p.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  const d1 = await p.next();
  t.equal(d1?.packet.op, 'data');
  const tid = d1!.from.port;
  stranger.send(encodeAck(1), tid);
  const answer = await stranger.next();
  t.match(answer?.packet, { op: 'error', code: ERR.UNKNOWN_TID });
  stranger.send(Buffer.from([9]), tid); // a runt from a stranger is still a stranger
  t.match((await stranger.next())?.packet, { op: 'error', code: ERR.UNKNOWN_TID });
  stranger.send(encodeError(0, 'x'), tid);
  t.equal(await stranger.next(200), null, 'an ERROR is never answered');
  p.send(Buffer.from([0]), tid); // runt from the peer: ignored
  p.send(Buffer.from([0, 9, 0, 0]), tid); // bad opcode from the peer: ignored
  p.send(encodeAck(1), tid);
  const chunks = [d1!.packet.op === 'data' ? d1!.packet.payload : Buffer.alloc(0)];
  for (let b = 2; b <= 5; b++) {
    const r = await p.next();
    t.match(r?.packet, { op: 'data', block: b });
    if (r?.packet.op === 'data') chunks.push(r.packet.payload);
    p.send(encodeAck(b), tid);
  }
  t.ok(Buffer.concat(chunks).equals(body), 'intact');
  await until(() => h.records.length > 0);
  const s = h.server.stats();
  t.equal(s.dropped.stranger, 3);
  t.equal(s.dropped.runt, 1);
  t.equal(s.dropped.badOpcode, 1);
  t.equal(s.transfersOk, 1);
});

t.test('a client ERROR after the OACK ends the transfer (EDK2 tsize probe)', async (t) => {
  const h = await harness(t, { 'ipxe.efi': randomBytes(5000) });
  const p = await peer(t);
  p.send(encodeRequest('rrq', 'ipxe.efi', 'octet', { tsize: '0', blksize: '1468', windowsize: '4' }), h.port);
  const o = await p.next();
  t.match(o?.packet, { op: 'oack', options: { tsize: '5000', blksize: '1468', windowsize: '4' } });
  p.send(encodeError(ERR.OPTION_REFUSED, 'tsize probe'), o!.from.port);
  t.same(await p.drain(300), [], 'nothing more is sent');
  t.match(h.records, [
    { status: 'aborted', failure: { kind: 'aborted', sent: null, detail: /client error 8: tsize probe/ } },
  ]);
  t.equal(h.server.stats().transfersAborted, 1);
  const real = await fetch(h, p, 'ipxe.efi', { blksize: '1468', windowsize: '4' });
  t.equal(real.data.length, 5000, 'the real fetch that follows works');
});

t.test('refusals: write, unknown file, traversal, mode', async (t) => {
  const h = await harness(t, { f: Buffer.from('x') });
  const p = await peer(t);
  const ask = async (buf: Buffer) => {
    p.send(buf, h.port);
    return (await p.next())?.packet;
  };
  t.match(await ask(encodeRequest('wrq', 'pxelinux.cfg/default', 'octet')), {
    op: 'error',
    code: ERR.ACCESS_VIOLATION,
  });
  t.match(await ask(encodeRequest('rrq', 'nope', 'octet')), { op: 'error', code: ERR.FILE_NOT_FOUND });
  t.match(await ask(encodeRequest('rrq', '../../etc/passwd', 'octet')), { op: 'error', code: ERR.ACCESS_VIOLATION });
  t.match(await ask(encodeRequest('rrq', 'f', 'mail')), { op: 'error', code: ERR.ILLEGAL_OPERATION });
  const s = h.server.stats();
  t.same([s.dropped.writeRefused, s.dropped.notFound, s.dropped.accessViolation, s.dropped.badMode], [1, 1, 1, 1]);
  t.equal(h.records.length, 4, 'every refused request is reported');
});

t.test('every ERROR sent is reported with its code, message, kind and the requested path', async (t) => {
  const h = await harness(
    t,
    {},
    {
      async resolve(req) {
        if (req.path === 'boom') throw new Error('hook bug');
        return req.path === 'f' ? { data: Buffer.from('x') } : null;
      },
    },
  );
  const p = await peer(t);
  const cases: [string, Buffer, string, number, string][] = [
    ['empty filename', Buffer.from('\x00\x01\x00octet\x00', 'latin1'), 'malformed', ERR.ILLEGAL_OPERATION, ''],
    ['only NULs', Buffer.from('\x00\x01\x00\x00\x00', 'latin1'), 'malformed', ERR.ILLEGAL_OPERATION, ''],
    ['no mode', Buffer.from('\x00\x01f\x00', 'latin1'), 'malformed', ERR.ILLEGAL_OPERATION, 'f'],
    ['unterminated', Buffer.from('\x00\x01pxelinux.0', 'latin1'), 'malformed', ERR.ILLEGAL_OPERATION, 'pxelinux.0'],
    ['mode mail', encodeRequest('rrq', 'f', 'mail'), 'badMode', ERR.ILLEGAL_OPERATION, 'f'],
    ['write', encodeRequest('wrq', 'up.bin', 'octet'), 'writeRefused', ERR.ACCESS_VIOLATION, 'up.bin'],
    [
      'traversal',
      encodeRequest('rrq', '../etc/passwd', 'octet'),
      'accessViolation',
      ERR.ACCESS_VIOLATION,
      '../etc/passwd',
    ],
    [
      'missing',
      encodeRequest('rrq', '/pxelinux.cfg/default', 'octet'),
      'notFound',
      ERR.FILE_NOT_FOUND,
      'pxelinux.cfg/default',
    ],
    ['hook throws', encodeRequest('rrq', 'boom', 'octet'), 'resolveError', ERR.NOT_DEFINED, 'boom'],
  ];
  for (const [name, buf, kind, code, path] of cases) {
    const before = h.records.length;
    p.send(buf, h.port);
    const got = await p.next();
    t.equal(got?.packet.op, 'error', `${name}: answered with an ERROR`);
    if (got?.packet.op !== 'error') continue;
    t.equal(got.packet.code, code, `${name}: error ${code}`);
    t.equal(got.from.port, h.port, `${name}: from the listening port`);
    await until(() => h.records.length > before);
    const rec = h.records[before];
    t.match(rec, { status: 'refused', path, peer: { address: '127.0.0.1', port: p.port }, failure: { kind } }, name);
    if (rec?.status === 'ok' || !rec) continue;
    t.same(rec.failure.sent, { code: got.packet.code, message: got.packet.message }, `${name}: the ERROR as sent`);
  }
  t.match(h.records[0], { failure: { sent: { message: 'Missing filename' } } });
  t.match(h.records[2], { failure: { sent: { message: 'Missing mode' } } });
  t.match(h.records[3], { failure: { sent: { message: 'Request not null-terminated' } } });
  t.match(h.records[4], { failure: { sent: { message: 'Unknown mode' }, detail: 'unknown transfer mode "mail"' } });
  const s = h.server.stats();
  t.equal(s.dropped.malformed, 4, 'malformed requests counted');
  t.equal(s.requests, cases.length, 'and counted as requests');
  t.equal(h.records.length, cases.length, 'one record each');
});

t.test('a hostile filename reaches the record bounded and escaped', async (t) => {
  const h = await harness(t, {});
  const p = await peer(t);
  const name = 'a\x1b[31mred\r\nlevel=error \u202egnp.\\' + 'x'.repeat(5000);
  p.send(encodeRequest('rrq', name, 'octet'), h.port);
  t.match((await p.next())?.packet, { op: 'error', code: ERR.FILE_NOT_FOUND });
  await until(() => h.records.length > 0);
  const path = h.records[0]?.path ?? '';
  t.ok(path.startsWith('a\\x1b[31mred\\x0d\\x0alevel=error \\u{202e}gnp.'), path.slice(0, 60));
  t.notOk(
    [...path].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f || c === '\u202e'),
    'no control or bidi characters',
  );
  t.ok(path.length < 300, `bounded (${path.length} characters)`);
  t.ok(path.endsWith('...'), 'cut visibly');
});

t.test('a file that shrinks mid-transfer ends with error 0, reported as io', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rj-tftp-shrink-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'k');
  writeFileSync(file, randomBytes(1024 * 1024));
  const h = await harness(t, { k: { path: file } });
  const p = await peer(t);
  let truncated = false;
  const shrink = () => {
    if (!truncated) writeFileSync(file, 'short');
    truncated = true;
  };
  await t.rejects(fetch(h, p, 'k', { blksize: '1468', windowsize: '8' }, { onBlock: shrink }), /error 0: file changed/);
  await until(() => h.records.length > 0);
  t.match(h.records, [
    { status: 'failed', failure: { kind: 'io', sent: { code: 0, message: 'file changed during transfer' } } },
  ]);
});

t.test('garbage on the listening port is dropped and counted', async (t) => {
  const h = await harness(t, { f: Buffer.from('hello') });
  const p = await peer(t);
  for (const g of [Buffer.alloc(0), Buffer.from([1]), Buffer.from([0, 4, 0, 1]), randomBytes(300)]) {
    p.send(g, h.port);
  }
  t.same(await p.drain(200), [], 'no answer to garbage');
  const got = await fetch(h, p, 'f');
  t.equal(got.data.toString(), 'hello', 'still serving');
  const s = h.server.stats();
  t.equal(s.dropped.runt, 2);
  t.ok(s.dropped.badOpcode >= 2, 'a stray ACK and random bytes are not requests');
});

t.test('netascii converts line ends and tsize counts the converted bytes', async (t) => {
  const h = await harness(t, { 'a.txt': Buffer.from('a\nb\rc') });
  const p = await peer(t);
  p.send(encodeRequest('rrq', 'a.txt', 'netascii', { tsize: '0' }), h.port);
  const o = await p.next();
  t.match(o?.packet, { op: 'oack', options: { tsize: '7' } });
  p.send(encodeAck(0), o!.from.port);
  const d = await p.next();
  t.ok(d?.packet.op === 'data' && d.packet.payload.equals(Buffer.from('a\r\nb\r\0c', 'latin1')));
  p.send(encodeAck(1), o!.from.port);
});

t.test('limits: per client and in total; retransmitted RRQ is not a second transfer', async (t) => {
  const h = await harness(t, { f: randomBytes(2000) }, { maxTransfersPerClient: 1, maxTransfers: 2 });
  const a = await peer(t);
  const b = await peer(t);
  a.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  const first = await a.next();
  t.equal(first?.packet.op, 'data');
  a.send(encodeRequest('rrq', 'f', 'octet'), h.port); // same TID: a retransmission
  for (let i = 0; i < 3; i++) b.send(encodeRequest('rrq', 'f', 'octet'), h.port); // same address, a looping ROM
  t.same(await b.drain(300), [], 'over the per-client limit: no answer, the client will retry');
  const s = h.server.stats();
  t.equal(s.dropped.duplicateRequest, 1);
  t.equal(s.dropped.clientBusy, 3);
  t.equal(s.active, 1);
  t.match(
    h.records,
    [{ status: 'refused', path: 'f', peer: { port: b.port }, failure: { kind: 'clientBusy', sent: null } }],
    'reported once, not per dropped request',
  );
  t.match(h.records[0], { failure: { detail: /transfers running for this address: 1, its limit/ } });

  // Once a slot was free again, the next refusal is reported again.
  for (let block = 1; block <= 4; block++) {
    a.send(encodeAck(block), first!.from.port);
    if (block < 4) await a.next();
  }
  await until(() => h.server.stats().active === 0);
  a.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  t.equal((await a.next())?.packet.op, 'data');
  b.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  await until(() => h.records.filter((r) => r.status === 'refused').length === 2);
  t.equal(h.records.filter((r) => r.status === 'refused').length, 2, 'a new spell over the limit is reported');
});

t.test('the limit in total: another address is refused without an answer, and reported', async (t) => {
  const h = await harness(t, { f: randomBytes(2000) }, { maxTransfers: 1 });
  const a = await peer(t);
  const other = await UdpPeer.open('127.0.0.2');
  t.teardown(() => other.close());
  a.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  t.equal((await a.next())?.packet.op, 'data');
  other.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  other.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  t.same(await other.drain(300), [], 'no answer');
  t.equal(h.server.stats().dropped.busy, 2);
  t.match(h.records, [{ peer: { address: '127.0.0.2' }, failure: { kind: 'busy', sent: null } }]);
  t.equal(h.records.length, 1);
});

t.test('close() ends active transfers with an ERROR and resolves', async (t) => {
  const h = await harness(t, { f: randomBytes(5000) });
  const p = await peer(t);
  p.send(encodeRequest('rrq', 'f', 'octet'), h.port);
  t.equal((await p.next())?.packet.op, 'data');
  await h.server.close();
  const next = await p.next();
  t.match(next?.packet, { op: 'error', message: /shutting down/ });
  t.match(h.records, [
    { status: 'failed', failure: { kind: 'shutdown', sent: { code: 0, message: /shutting down/ } } },
  ]);
});
