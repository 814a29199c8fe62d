// Hostile-traffic probe, run in the client namespace by test/integration/tftp.test.ts:
//   node tftp-probe.js HOST PORT REMOTE_NAME LOCAL_COPY
// Sends runts and garbage to the listening port (no requests: a malformed request
// is answered), then fetches REMOTE_NAME lock-step while a second socket (a
// stranger) and the client itself throw runts, garbage and ACKs at the transfer's
// port. Prints one JSON line with what it saw.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encodeAck, encodeRequest, ERR } from '../../src/tftp/packet.js';
import { UdpPeer } from './udp-peer.js';

const [host, portArg, remote, local] = process.argv.slice(2);
if (!host || !portArg || !remote || !local) throw new Error('usage: tftp-probe HOST PORT REMOTE LOCAL');
const port = Number(portArg);
const expected = readFileSync(local);

const garbage = [
  Buffer.alloc(0),
  Buffer.from([1]),
  Buffer.from([0, 4, 0, 1]), // ACK to the listening port
  Buffer.from([0, 3, 0, 1, 9, 9]), // DATA to the listening port
  Buffer.from([0, 9, 0, 0]), // opcode 9
  ...Array.from({ length: 20 }, (_, i) => randomBytes(1 + i * 30)),
];

const client = await UdpPeer.open('0.0.0.0');
const stranger = await UdpPeer.open('0.0.0.0');
for (const g of garbage) client.send(g, port, host);
const answeredGarbage = (await client.drain(300)).length;

client.send(encodeRequest('rrq', remote, 'octet'), port, host);
const chunks: Buffer[] = [];
let strangerErrors = 0;
let tid = 0;
let result: { ok: boolean; error?: string } = { ok: false, error: 'no data' };
// One ACK per block; the block count bounds the loop, the 3 s waits bound the time.
for (let block = 1; block <= Math.floor(expected.length / 512) + 1; block++) {
  const r = await client.next(3000);
  if (!r || r.packet.op !== 'data' || r.packet.block !== (block & 0xffff)) {
    result = { ok: false, error: `block ${block}: got ${JSON.stringify(r?.packet ?? null)}` };
    break;
  }
  chunks.push(Buffer.from(r.packet.payload));
  tid = r.from.port;
  if (block === 2) {
    // Mid-transfer: a stranger sends an ACK, a runt and garbage; the client sends a runt and garbage.
    for (const g of [encodeAck(2), Buffer.from([0]), randomBytes(100)]) stranger.send(g, tid, host);
    for (let i = 0; i < 3; i++) {
      const e = await stranger.next(1000);
      if (e?.packet.op === 'error' && e.packet.code === ERR.UNKNOWN_TID) strangerErrors++;
    }
    client.send(Buffer.from([0]), tid, host);
    client.send(randomBytes(50), tid, host);
  }
  client.send(encodeAck(block), tid, host);
  if (r.packet.payload.length < 512) result = { ok: true };
}
const intact = Buffer.concat(chunks).equals(expected);
process.stdout.write(JSON.stringify({ answeredGarbage, strangerErrors, ...result, intact }) + '\n');
client.close();
stranger.close();
