// fitReply: a reply never longer than the client takes (RFC 2131 §2, option 57),
// trimmed of what the client did not ask for, never of what it needs to boot.
import t from 'tap';
import { DHCP, encode, parse, type DhcpPacket, type DhcpReply } from '../../src/dhcp/codec.js';
import { OPT, type OptionPair } from '../../src/dhcp/options.js';
import { fitReply } from '../../src/dhcp/reply.js';
import { buildRequest } from '../helpers/dhcp.js';

function request(options: [number, string][]): DhcpPacket {
  const r = parse(buildRequest({ type: DHCP.DISCOVER, options }));
  if (!r.ok) throw new Error(r.error);
  return r.packet;
}

const text = (code: number, n: number, ch = 'x'): OptionPair => [code, Buffer.from(ch.repeat(n), 'latin1')];

function reply(options: OptionPair[]): DhcpReply {
  return { xid: 1, flags: 0, ciaddr: 0, yiaddr: 0xc6120015, siaddr: 0, giaddr: 0, chaddr: Buffer.alloc(16), options };
}

// A long domain name and host name that nobody asked for, and a long iPXE script URL that is needed.
const bulky = (): OptionPair[] => [
  [OPT.messageType, Buffer.from([DHCP.OFFER])],
  [OPT.serverId, Buffer.from([198, 18, 0, 1])],
  [OPT.subnetMask, Buffer.from([255, 255, 255, 0])],
  text(OPT.domainName, 100, 'd'),
  text(OPT.hostname, 60, 'h'),
  text(OPT.bootfile, 180, 'u'),
];

t.test('no option 57: 576-byte datagrams, so at most 548 bytes of DHCP', async (t) => {
  const r = reply(bulky());
  const fit = fitReply(r, request([[55, '01030f43']])); // asks for 15 (domain), not 12 (host name)
  t.same(fit, { omitted: [OPT.hostname], fits: true });
  t.ok(encode(r).length <= 548, `${encode(r).length} bytes`);
  t.ok(
    r.options.some(([c]) => c === OPT.domainName),
    'the domain it asked for stays',
  );
  t.ok(
    r.options.some(([c]) => c === OPT.bootfile),
    'the boot file stays',
  );
});

t.test('udhcpc says 576; nothing asked for goes before anything asked for', async (t) => {
  const r = reply(bulky());
  const fit = fitReply(
    r,
    request([
      [57, '0240'],
      [55, '0103060c'],
    ]),
  ); // asks for 12, not 15
  t.same(fit, { omitted: [OPT.domainName], fits: true });
  t.ok(encode(r).length <= 548);
});

t.test('option 57 of 1472 (iPXE, EDK2): everything fits, nothing goes', async (t) => {
  const r = reply(bulky());
  t.same(fitReply(r, request([[57, '05c0']])), { omitted: [], fits: true });
  t.equal(r.options.length, 6);
});

t.test('a value under 576 or malformed is no reason to go below 576', async (t) => {
  for (const v of ['0100', '05']) {
    const r = reply(bulky().filter(([c]) => c !== OPT.domainName));
    t.same(fitReply(r, request([[57, v]])), { omitted: [], fits: true }, `57=${v}`);
  }
});

t.test('too long with only what it needs: left as it is, and said', async (t) => {
  const r = reply([...bulky(), text(OPT.vendorSpecific, 250, 'v')]);
  const fit = fitReply(r, request([[55, '0c0f']]));
  t.equal(fit.fits, false);
  t.same(fit.omitted, [], 'asked-for and essential options are never dropped');
  t.equal(r.options.length, 7);
});
