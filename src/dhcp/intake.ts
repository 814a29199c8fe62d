// Request validation: a datagram becomes a Request, or the name of why it is
// not one (counted and dropped by the server, never an error).
import { macFromBytes } from '../mac.js';
import { BOOTREQUEST, messageType, parse } from './codec.js';
import { fingerprintOf } from './fingerprint.js';
import type { Request, Source } from './reply.js';

/** A refused datagram still names its machine when it parsed and has an Ethernet chaddr (for the capture). */
export type Intake = { ok: true; req: Request } | { ok: false; reason: string; mac: string | null };

export function intake(msg: Buffer, from: Source, proxyPort: boolean): Intake {
  const parsed = parse(msg);
  if (!parsed.ok) return { ok: false, reason: parsed.error, mac: null };
  const p = parsed.packet;
  const type = messageType(p);
  const mac = p.htype === 1 && p.hlen === 6 ? macFromBytes(p.chaddr) : null;
  if (p.op !== BOOTREQUEST) return { ok: false, reason: 'not-request', mac };
  if (mac === null) return { ok: false, reason: 'not-ethernet', mac };
  if (type === null) return { ok: false, reason: 'no-message-type', mac }; // plain BOOTP is not served
  if (type < 1 || type > 8) return { ok: false, reason: 'unknown-message-type', mac };
  const req: Request = {
    packet: p,
    type,
    mac,
    fp: fingerprintOf(p),
    from,
    proxyPort,
  };
  return { ok: true, req };
}
