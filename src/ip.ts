// IPv4 addresses as unsigned 32-bit numbers: the DHCP fast path compares and
// allocates numbers, TFTP transfers compare and send to them; dotted strings
// appear only at the edges (config, DB, events).

export function ipToInt(s: string): number {
  const p = s.split('.');
  if (p.length !== 4) throw new Error(`not an IPv4 address: ${s}`);
  let n = 0;
  for (const part of p) {
    const v = Number(part);
    if (!/^\d{1,3}$/.test(part) || v > 255) throw new Error(`not an IPv4 address: ${s}`);
    n = n * 256 + v;
  }
  return n;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export interface Cidr {
  network: number;
  prefix: number;
  mask: number;
  broadcast: number;
}

export function parseCidr(s: string): Cidr {
  const [addr, len] = s.split('/');
  const prefix = Number(len);
  if (!addr || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`not a CIDR: ${s}`);
  const mask = prefixMask(prefix);
  const network = (ipToInt(addr) & mask) >>> 0;
  return { network, prefix, mask, broadcast: (network | ~mask) >>> 0 };
}

export function inCidr(ip: number, c: Cidr): boolean {
  return (ip & c.mask) >>> 0 === c.network;
}

/** The network and broadcast addresses, which no host may hold; a /31 or /32 has none (RFC 3021). */
export function nonHostAddresses(c: Cidr): { network: number | null; broadcast: number | null } {
  return c.prefix <= 30 ? { network: c.network, broadcast: c.broadcast } : { network: null, broadcast: null };
}
