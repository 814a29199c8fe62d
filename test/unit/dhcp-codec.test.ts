import t from 'tap';
import { DHCP, encode, messageType, optIp, parse, type DhcpPacket } from '../../src/dhcp/codec.js';
import { describeOptions, encodeSubOptions, ipBytes, parseSubOptions, userClasses } from '../../src/dhcp/options.js';
import { fingerprintOf } from '../../src/dhcp/fingerprint.js';
import { buildRequest, CAPTURED, hexOpt } from '../helpers/dhcp.js';

function mustParse(buf: Buffer): DhcpPacket {
  const r = parse(buf);
  if (!r.ok) throw new Error(`parse failed: ${r.error}`);
  return r.packet;
}

t.test('captured BIOS iPXE ROM DISCOVER', async (t) => {
  const p = mustParse(buildRequest({ type: DHCP.DISCOVER, options: CAPTURED.biosIpxeRom }));
  t.equal(messageType(p), DHCP.DISCOVER);
  t.equal(p.options.get(57)!.readUInt16BE(0), 1472);
  t.equal(p.options.get(97)!.length, 17);
  const fp = fingerprintOf(p);
  t.match(fp, { archCode: 0, pxe: true, ipxe: true, http: false, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' });
  t.equal(fp.arch.name, 'x86 BIOS');
  const subs = parseSubOptions(p.options.get(175)!)!;
  t.same(subs[0], [177, Buffer.from('011af41000', 'hex')], '175 starts with bus-id: PCI virtio');
  const d = describeOptions(p.options);
  t.equal(d['77 user-class'], 'iPXE', 'option 77 read as a raw string');
  t.same(d['93 client-arch'], [0]);
  t.same(
    d['55 parameter-request-list'],
    [1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133, 134, 135, 175, 203],
  );
  t.equal(d['53 message-type'], 'DISCOVER');
  t.equal(d['61 client-id'], '015254000e0001');
});

t.test('captured EDK2 (native UEFI PXE) DISCOVER', async (t) => {
  const p = mustParse(buildRequest({ type: DHCP.DISCOVER, mac: '52:54:00:0e:00:02', options: CAPTURED.edk2 }));
  const fp = fingerprintOf(p);
  t.match(fp, { archCode: 7, pxe: true, ipxe: false });
  t.equal(fp.arch.files.ipxe, 'ipxe.efi');
  t.equal(p.options.get(55)!.length, 35);
  t.notOk(p.options.has(61));
});

t.test('captured UEFI iPXE ROM and udhcpc', async (t) => {
  const u = fingerprintOf(mustParse(buildRequest({ type: DHCP.DISCOVER, options: CAPTURED.uefiIpxeRom })));
  t.match(u, { archCode: 7, pxe: true, ipxe: true });
  const b = fingerprintOf(mustParse(buildRequest({ type: DHCP.DISCOVER, options: CAPTURED.udhcpc })));
  t.match(b, { archCode: null, pxe: false, ipxe: false, http: false, vendorClass: 'udhcp 1.35.0' });
});

t.test('arch from option 60 when 93 is missing', async (t) => {
  const p = mustParse(buildRequest({ type: DHCP.DISCOVER, options: [hexOpt(60, 'PXEClient:Arch:00011:UNDI:003016')] }));
  t.equal(fingerprintOf(p).archCode, 11);
});

t.test('malformed datagrams are named errors, not exceptions', async (t) => {
  t.same(parse(Buffer.alloc(0)), { ok: false, error: 'short' });
  t.same(parse(Buffer.alloc(239)), { ok: false, error: 'short' });
  const noCookie = buildRequest({ type: DHCP.DISCOVER });
  noCookie.writeUInt32BE(0xdeadbeef, 236);
  t.same(parse(noCookie), { ok: false, error: 'bad-cookie' });
  const head = buildRequest({ type: DHCP.DISCOVER }).subarray(0, 240);
  t.same(
    parse(Buffer.concat([head, Buffer.from([60, 10, 65, 66])])),
    { ok: false, error: 'truncated-option' },
    'length past the end',
  );
  t.same(
    parse(Buffer.concat([head, Buffer.from([53, 1, 1, 60])])),
    { ok: false, error: 'truncated-option' },
    'length byte missing',
  );
  t.same(parse(Buffer.concat([head, Buffer.from([53, 1, 1, 52, 1, 9, 255])])), { ok: false, error: 'bad-overload' });
});

t.test('PAD is one byte, END stops, a missing END is tolerated', async (t) => {
  const head = buildRequest({ type: DHCP.DISCOVER }).subarray(0, 240);
  // The npm `dhcp` package lost option 60 after this pad and invented option 20.
  const p = mustParse(
    Buffer.concat([head, Buffer.from([53, 1, 1, 0, 60, 3, 0x50, 0x58, 0x45, 255, 12, 2, 0x41, 0x42])]),
  );
  t.equal(messageType(p), 1);
  t.equal(p.options.get(60)!.toString(), 'PXE');
  t.notOk(p.options.has(20));
  t.notOk(p.options.has(12), 'nothing after END is read');
  const noEnd = mustParse(Buffer.concat([head, Buffer.from([53, 1, 3, 0, 0, 0])]));
  t.equal(messageType(noEnd), 3);
});

t.test('lengths are honoured: a wrong-size option reads as absent, neighbours survive', async (t) => {
  const head = buildRequest({ type: DHCP.DISCOVER }).subarray(0, 240);
  const p = mustParse(
    Buffer.concat([head, Buffer.from([53, 2, 1, 1, 50, 8, 1, 2, 3, 4, 5, 6, 7, 8, 60, 1, 0x58, 255])]),
  );
  t.equal(messageType(p), null, '53 of length 2 is not a message type');
  t.equal(optIp(p, 50), null, '50 of length 8 is not an address');
  t.equal(p.options.get(60)!.toString(), 'X');
  t.same([...p.options.keys()], [53, 50, 60], 'no phantom options');
});

t.test('repeated options are concatenated (RFC 3396)', async (t) => {
  const head = buildRequest({ type: DHCP.DISCOVER }).subarray(0, 240);
  const p = mustParse(Buffer.concat([head, Buffer.from([53, 1, 1, 60, 2, 0x41, 0x42, 60, 1, 0x43, 255])]));
  t.equal(p.options.get(60)!.toString(), 'ABC');
});

t.test('option overload: options in file and sname', async (t) => {
  const buf = buildRequest({ type: DHCP.DISCOVER }, Buffer.from([53, 1, 1, 52, 1, 3, 255]));
  Buffer.from([12, 3, 0x66, 0x69, 0x6c, 255]).copy(buf, 108); // file: hostname "fil"
  Buffer.from([60, 2, 0x73, 0x6e, 255]).copy(buf, 44); // sname: vendor class "sn"
  const p = mustParse(buf);
  t.equal(p.options.get(12)!.toString(), 'fil');
  t.equal(p.options.get(60)!.toString(), 'sn');
  t.equal(p.file, '');
  t.equal(p.sname, '');
  t.notOk(p.options.has(52));
});

t.test('user class: raw string and RFC 3004 readings', async (t) => {
  t.same(userClasses(Buffer.from('iPXE')), ['iPXE']);
  t.same(userClasses(Buffer.from('\x04iPXE\x03foo', 'latin1')), ['\x04iPXE\x03foo', 'iPXE', 'foo']);
});

t.test('encode: header fields, options, padding, long options split', async (t) => {
  const chaddr = Buffer.alloc(16);
  Buffer.from('525400aabbcc', 'hex').copy(chaddr);
  const long = Buffer.alloc(300, 0x61);
  const buf = encode({
    xid: 0xcafebabe,
    flags: 0x8000,
    ciaddr: 0,
    yiaddr: 0xc6120015,
    siaddr: 0xc6120001,
    giaddr: 0xc6120102,
    hops: 1,
    chaddr,
    sname: '198.18.0.1',
    file: 'undionly.kpxe',
    options: [
      [53, Buffer.from([DHCP.OFFER])],
      [54, ipBytes(0xc6120001)],
      [43, encodeSubOptions([[6, Buffer.from([8])]], true)],
      [99, long],
    ],
  });
  t.ok(buf.length >= 300);
  t.equal(buf[0], 2, 'BOOTREPLY');
  const p = mustParse(buf);
  t.match(p, { xid: 0xcafebabe, flags: 0x8000, yiaddr: 0xc6120015, siaddr: 0xc6120001, giaddr: 0xc6120102, hops: 1 });
  t.equal(p.file, 'undionly.kpxe');
  t.equal(p.sname, '198.18.0.1');
  t.equal(messageType(p), DHCP.OFFER);
  t.same(p.options.get(43), Buffer.from([6, 1, 8, 255]));
  t.same(p.options.get(99), long, 'a 300-byte option survives as two instances');
  t.equal(buf.subarray(28, 34).toString('hex'), '525400aabbcc');
});

t.test('parse never throws: random bytes and truncations of real packets', async (t) => {
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const real = Object.values(CAPTURED).map((o) => buildRequest({ type: DHCP.DISCOVER, options: o }));
  let parsed = 0;
  for (let i = 0; i < 20_000; i++) {
    let buf: Buffer;
    if (i % 2 === 0) {
      buf = Buffer.alloc(rand() % 600);
      for (let j = 0; j < buf.length; j++) buf[j] = rand() & 255;
      if (buf.length >= 240 && i % 4 === 0) buf.writeUInt32BE(0x63825363, 236);
    } else {
      const src = real[i % real.length]!;
      buf = Buffer.from(src.subarray(0, rand() % (src.length + 1)));
      if (buf.length > 240) buf[240 + (rand() % (buf.length - 240))] = rand() & 255;
    }
    const r = parse(buf);
    if (r.ok) {
      parsed++;
      describeOptions(r.packet.options);
      fingerprintOf(r.packet);
    }
  }
  t.ok(parsed > 0, `${parsed} of the inputs parsed`);
});
