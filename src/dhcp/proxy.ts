// ProxyDHCP (PXE spec 2.1 §2.2.3): another server hands out addresses; we answer
// PXE clients' DISCOVERs on port 67 with boot information only (yiaddr 0,
// option 60 "PXEClient", option 43 where the firmware takes it) and their
// REQUESTs on port 4011 with the same as an ACK, unicast back to the sender.
import { wantsNetboot } from '../boot/firmware.js';
import { DHCP } from './codec.js';
import { enrolled, type HandlerContext, type Outcome } from './handler.js';
import { bootFields, destination, makeReply, type Request } from './reply.js';

export function handleProxy(ctx: HandlerContext, req: Request): Outcome {
  // Port 67: DISCOVER only; the REQUEST that follows belongs to the address server.
  // Port 4011: REQUEST (or INFORM) for the boot file.
  let replyType: number;
  if (req.proxyPort && (req.type === DHCP.REQUEST || req.type === DHCP.INFORM)) replyType = DHCP.ACK;
  else if (!req.proxyPort && req.type === DHCP.DISCOVER) replyType = DHCP.OFFER;
  else return { drop: req.type === DHCP.REQUEST ? 'other-server' : 'proxy-ignored-type' };
  if (!wantsNetboot(req.fp)) return { drop: 'not-netboot' };
  const node = ctx.nodeByMac(req.mac);
  const plan = ctx.plan(req.mac, node);
  if (!enrolled(node)) return { drop: 'unknown-mac', discovered: true, reason: plan.intent.reason, node };
  const boot = plan.dhcp(req.fp);
  if (!boot.boot) return { drop: 'no-boot', node, reason: boot.reason };
  const serverIp = ctx.net.serverIp;
  const packet = makeReply(req, replyType, {
    yiaddr: 0,
    serverId: serverIp,
    options: [],
    boot: bootFields(boot, serverIp, req.fp, true),
  });
  const reply = { type: replyType, packet, to: destination(req, replyType, 0), durable: false };
  return { reply, node, boot, reason: boot.reason };
}
