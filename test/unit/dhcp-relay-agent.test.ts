// Option 82 (RFC 3046) in replies: a well-formed one is echoed verbatim and last;
// a malformed one is left out of the reply (the request is still answered, as Kea
// answers it) and gives no link selection.
import t from 'tap';
import { DHCP, encode, parse } from '../../src/dhcp/codec.js';
import { intake } from '../../src/dhcp/intake.js';
import { relayInfo } from '../../src/dhcp/network.js';
import { OPT } from '../../src/dhcp/options.js';
import { makeReply, relayAgentEcho, type Request } from '../../src/dhcp/reply.js';
import { buildRequest } from '../helpers/dhcp.js';

const RELAY = { address: '198.18.0.2', port: 67 };

function relayed(o82: Buffer): Request {
  const got = intake(
    buildRequest({ type: DHCP.DISCOVER, giaddr: '198.18.0.2', options: [[82, o82.toString('hex')]] }),
    RELAY,
    false,
  );
  if (!got.ok) throw new Error(got.reason);
  return got.req;
}

/** The reply as it goes on the wire, parsed back. */
function replyTo(req: Request) {
  const r = makeReply(req, DHCP.OFFER, { yiaddr: 0xc6120064, serverId: 0xc6120001, options: [] });
  const p = parse(encode(r));
  if (!p.ok) throw new Error(p.error);
  return p.packet;
}

const circuit = [1, 4, ...Buffer.from('eth1')];
const remote = [2, 6, 0x02, 0, 0, 0, 0, 0x42];

t.test('well-formed option 82 is echoed verbatim, as the last option', async (t) => {
  const cases: [string, number[]][] = [
    ['circuit and remote id', [...circuit, ...remote]],
    ['link selection', [5, 4, 198, 19, 5, 0]],
    ['a zero-length sub-option', [1, 0, ...remote]],
    ['trailing pad', [...circuit, 0, 0]],
    ['an end marker, then bytes a relay left', [...circuit, 255, 9, 9]],
  ];
  for (const [name, bytes] of cases) {
    const o82 = Buffer.from(bytes);
    const reply = replyTo(relayed(o82));
    t.same(reply.options.get(OPT.relayAgent), o82, `${name}: verbatim`);
    t.equal([...reply.options.keys()].at(-1), OPT.relayAgent, `${name}: last`);
  }
});

t.test('malformed option 82 is answered but not echoed', async (t) => {
  const cases: [string, number[]][] = [
    ['empty', []],
    ['sub-option length past the end', [1, 10, 0x61, 0x62]],
    ['a good sub-option, then one that overruns', [...circuit, 2, 200, 1, 2, 3]],
    ['a code without its length', [...circuit, 2]],
    ['only pad bytes', [0, 0, 0, 0]],
    ['an end marker first', [255, ...circuit]],
  ];
  for (const [name, bytes] of cases) {
    const req = relayed(Buffer.from(bytes));
    t.ok(req.packet.options.has(OPT.relayAgent), `${name}: the request carries option 82`);
    t.equal(relayAgentEcho(req.packet), null, `${name}: nothing to echo`);
    const reply = replyTo(req);
    t.equal(reply.options.get(OPT.messageType)?.[0], DHCP.OFFER, `${name}: still answered`);
    t.notOk(reply.options.has(OPT.relayAgent), `${name}: no option 82 in the reply`);
  }
});

t.test('a malformed option 82 selects no link', async (t) => {
  const good = relayed(Buffer.from([5, 4, 198, 19, 5, 0]));
  t.equal(relayInfo(good.packet).link, 0xc6130500);
  const broken = relayed(Buffer.from([5, 4, 198, 19, 5, 0, 1, 9, 0x61]));
  t.same(relayInfo(broken.packet), { link: null, serverOverride: null }, 'the request falls back to giaddr');
});
