// Crafted-request probe, run in the client namespace by test/integration/tftp.test.ts:
//   node tftp-ask.js HOST PORT HEX [HEX...]
// Sends each datagram from a fresh socket and prints one JSON line per datagram:
// the first packet that came back within 1.5 s, or null.
import { UdpPeer } from './udp-peer.js';

const [host, portArg, ...hexes] = process.argv.slice(2);
if (!host || !portArg || hexes.length === 0) throw new Error('usage: tftp-ask HOST PORT HEX...');
for (const hex of hexes) {
  const peer = await UdpPeer.open('0.0.0.0');
  peer.send(Buffer.from(hex, 'hex'), Number(portArg), host);
  const port = peer.port;
  const r = await peer.next(1500);
  peer.close();
  process.stdout.write(JSON.stringify(r ? { packet: r.packet, from: r.from, port } : null) + '\n');
}
