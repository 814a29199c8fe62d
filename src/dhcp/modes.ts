// The handler for each DHCP mode, and the dry run explain uses: the same handler
// on the DISCOVER a firmware would send, with nothing applied, so what explain
// says DHCP answers is what DHCP answers.
import type { Fingerprint } from '../boot/firmware.js';
import { handleLease } from './authoritative.js';
import { BOOTREQUEST, DHCP, type DhcpPacket } from './codec.js';
import type { HandlerContext, Outcome } from './handler.js';
import { OPT } from './options.js';
import { handleProxy } from './proxy.js';
import type { Request } from './reply.js';

export function handle(ctx: HandlerContext, req: Request): Outcome {
  return ctx.mode === 'proxy' ? handleProxy(ctx, req) : handleLease(ctx, req);
}

/** Where a previewed request comes from: the served link, or a relay in a subnet (its giaddr). */
export interface PreviewOrigin {
  giaddr: number;
}

/** What `handle` would answer `mac`'s firmware `fp` to a DISCOVER, changing nothing. */
export function previewDiscover(ctx: HandlerContext, mac: string, fp: Fingerprint, from: PreviewOrigin): Outcome {
  const options = new Map<number, Buffer>([[OPT.messageType, Buffer.from([DHCP.DISCOVER])]]);
  if (fp.archCode !== null) options.set(OPT.clientArch, Buffer.from([fp.archCode >> 8, fp.archCode & 255]));
  if (fp.vendorClass) options.set(OPT.vendorClass, Buffer.from(fp.vendorClass, 'latin1'));
  if (fp.ipxe) options.set(OPT.userClass, Buffer.from('iPXE', 'latin1'));
  const chaddr = Buffer.alloc(16);
  mac.split(':').forEach((h, i) => chaddr.writeUInt8(parseInt(h, 16), i));
  const packet: DhcpPacket = {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: from.giaddr,
    chaddr,
    sname: '',
    file: '',
    options,
  };
  return handle(ctx, {
    packet,
    type: DHCP.DISCOVER,
    mac,
    fp,
    from: { address: '0.0.0.0', port: 68 },
    proxyPort: false,
  });
}
