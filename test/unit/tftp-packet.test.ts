import t from 'tap';
import { randomBytes } from 'node:crypto';
import {
  writeDataHeader,
  decode,
  encodeAck,
  encodeError,
  encodeOack,
  encodeRequest,
  ERR,
} from '../../src/tftp/packet.js';

t.test('read request with options round-trips, names lower-cased', async (t) => {
  const buf = encodeRequest('rrq', 'pxelinux.cfg/01-52-54-00-00-00-01', 'OCTET', { TSIZE: '0', blksize: '1408' });
  const d = decode(buf);
  t.ok(d.ok);
  if (!d.ok) return;
  t.same(d.packet, {
    op: 'rrq',
    filename: 'pxelinux.cfg/01-52-54-00-00-00-01',
    mode: 'octet',
    options: { tsize: '0', blksize: '1408' },
  });
});

t.test('the firmware requests from the lab decode', async (t) => {
  const edk2 = Buffer.from(
    '\x00\x01ipxe.efi\x00octet\x00tsize\x000\x00blksize\x001468\x00windowsize\x004\x00',
    'latin1',
  );
  const d = decode(edk2);
  t.ok(d.ok && d.packet.op === 'rrq' && d.packet.options.windowsize === '4' && d.packet.options.tsize === '0');
});

t.test('write request is recognised as such', async (t) => {
  const d = decode(encodeRequest('wrq', 'x', 'octet'));
  t.ok(d.ok && d.packet.op === 'wrq');
});

t.test('ack, error, oack and data header', async (t) => {
  t.same(decode(encodeAck(65535)), { ok: true, packet: { op: 'ack', block: 65535 } });
  t.same(decode(encodeAck(65536)), { ok: true, packet: { op: 'ack', block: 0 } }, 'block numbers wrap');
  t.same(decode(encodeError(ERR.UNKNOWN_TID, 'Unknown transfer ID')), {
    ok: true,
    packet: { op: 'error', code: 5, message: 'Unknown transfer ID' },
  });
  const o = decode(encodeOack({ blksize: '1468', windowsize: '16' }));
  t.ok(o.ok && o.packet.op === 'oack' && o.packet.options.windowsize === '16');
  const frame = Buffer.from('....abc');
  writeDataHeader(frame, 0, 65536 + 7);
  const data = decode(frame);
  t.ok(data.ok && data.packet.op === 'data' && data.packet.block === 7 && data.packet.payload.toString() === 'abc');
});

t.test('malformed input is a typed failure, never a throw', async (t) => {
  const cases: [string, Buffer, string][] = [
    ['empty', Buffer.alloc(0), 'runt'],
    ['one byte', Buffer.from([0]), 'runt'],
    ['ack of 3 bytes', Buffer.from([0, 4, 0]), 'runt'],
    ['data of 2 bytes', Buffer.from([0, 3]), 'runt'],
    ['error of 3 bytes', Buffer.from([0, 5, 1]), 'runt'],
    ['opcode 0', Buffer.from([0, 0, 0, 0]), 'bad-opcode'],
    ['opcode 7', Buffer.from([0, 7, 0, 0]), 'bad-opcode'],
    ['opcode 0xffff', Buffer.from([0xff, 0xff, 1, 2, 3]), 'bad-opcode'],
  ];
  for (const [name, buf, reason] of cases) t.same(decode(buf), { ok: false, reason }, name);
});

t.test('a request without a filename or mode says what to answer (tftp-hpa: error 4)', async (t) => {
  const cases: [string, string, 'rrq' | 'wrq', string, string | null][] = [
    ['bare rrq opcode', '\x00\x01', 'rrq', 'Missing filename', null],
    ['empty filename', '\x00\x01\x00octet\x00', 'rrq', 'Missing filename', null],
    ['only NULs', '\x00\x01\x00\x00\x00', 'rrq', 'Missing filename', null],
    ['filename without terminator', '\x00\x01file', 'rrq', 'Request not null-terminated', 'file'],
    ['no mode', '\x00\x01file\x00', 'rrq', 'Missing mode', 'file'],
    ['empty mode', '\x00\x01file\x00\x00octet\x00', 'rrq', 'Missing mode', 'file'],
    ['mode without terminator', '\x00\x01file\x00octet', 'rrq', 'Request not null-terminated', 'file'],
    ['write request without mode', '\x00\x02up\x00', 'wrq', 'Missing mode', 'up'],
  ];
  for (const [name, bytes, op, error, filename] of cases) {
    t.same(decode(Buffer.from(bytes, 'latin1')), { ok: false, reason: 'malformed', op, error, filename }, name);
  }
  const tail = decode(Buffer.from('\x00\x01f\x00octet\x00blksize\x00512\x00tsi', 'latin1'));
  t.ok(
    tail.ok && tail.packet.op === 'rrq' && tail.packet.options.blksize === '512',
    'an unterminated option tail is ignored',
  );
});

t.test('option quirks: dangling name, duplicates, prototype keys', async (t) => {
  const d = decode(
    Buffer.from('\x00\x01f\x00octet\x00blksize\x00512\x00blksize\x001024\x00__proto__\x00x\x00tsize\x00', 'latin1'),
  );
  t.ok(d.ok);
  if (!d.ok || d.packet.op !== 'rrq') return;
  t.equal(d.packet.options.blksize, '512', 'first duplicate wins');
  t.equal(d.packet.options['__proto__'], 'x', 'stored as plain data');
  t.notOk('tsize' in d.packet.options, 'a name without a value is dropped');
});

t.test('random garbage never throws', async (t) => {
  for (let i = 0; i < 5000; i++) {
    const buf = randomBytes(i % 64);
    if (i % 3 === 0 && buf.length >= 2) buf.writeUInt16BE(1 + (i % 6), 0);
    decode(buf);
  }
  t.pass('5000 random datagrams decoded');
});
