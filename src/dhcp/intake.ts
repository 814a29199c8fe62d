// Request validation: a datagram becomes a Request, or the name of why it is
// not one (counted and dropped by the server, never an error).
import type { RemoteInfo } from 'node:dgram';
import { macFromBytes } from '../mac.js';
import { BOOTREQUEST, messageType, parse } from './codec.js';
import { fingerprintOf } from './fingerprint.js';
import { MESSAGE_TYPES } from './options.js';
import type { Request } from './reply.js';

export type Intake = { ok: true; req: Request; typeName: string } | { ok: false; reason: string };

export function intake(msg: Buffer, rinfo: RemoteInfo, proxyPort: boolean): Intake {
  const parsed = parse(msg);
  if (!parsed.ok) return { ok: false, reason: parsed.error };
  const p = parsed.packet;
  const type = messageType(p);
  if (p.op !== BOOTREQUEST) return { ok: false, reason: 'not-request' };
  if (p.htype !== 1 || p.hlen !== 6) return { ok: false, reason: 'not-ethernet' };
  if (type === null) return { ok: false, reason: 'no-message-type' }; // plain BOOTP is not served
  if (type < 1 || type > 8) return { ok: false, reason: 'unknown-message-type' };
  const req: Request = {
    packet: p,
    type,
    mac: macFromBytes(p.chaddr),
    fp: fingerprintOf(p),
    from: { address: rinfo.address, port: rinfo.port },
    proxyPort,
  };
  return { ok: true, req, typeName: MESSAGE_TYPES[type]! };
}
