// Run inside a lab namespace: send one datagram, print every datagram that comes
// back within the wait as "<address>:<port> <hex>".
//   node dhcpProbe.js <bindPort> <to> <port> <hex> <waitMs>
import { createSocket } from 'node:dgram';

const [bindPort, to, port, hex, waitMs] = process.argv.slice(2);
const sock = createSocket({ type: 'udp4', reuseAddr: true });
sock.on('message', (msg, r) => process.stdout.write(`${r.address}:${r.port} ${msg.toString('hex')}\n`));
sock.bind(Number(bindPort), () => {
  sock.setBroadcast(true);
  sock.send(Buffer.from(hex!, 'hex'), Number(port), to!, (err) => {
    if (err) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
  });
  setTimeout(() => sock.close(), Number(waitMs));
});
