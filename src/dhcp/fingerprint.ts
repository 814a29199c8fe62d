// A DHCP request's boot fingerprint (boot/firmware.ts says what the fields mean).
import { archOf, type Fingerprint } from '../boot/firmware.js';
import { optString, type DhcpPacket } from './codec.js';
import { OPT, userClasses } from './options.js';

export function fingerprintOf(p: DhcpPacket): Fingerprint {
  const arch93 = p.options.get(OPT.clientArch);
  const vendorClass = optString(p, OPT.vendorClass);
  // Some ROMs omit 93 but still say "PXEClient:Arch:00007:..." in option 60.
  const fromVendor = vendorClass ? /^(?:PXE|HTTP)Client:Arch:(\d{5})/.exec(vendorClass) : null;
  const archCode = arch93 && arch93.length >= 2 ? arch93.readUInt16BE(0) : fromVendor ? Number(fromVendor[1]) : null;
  const arch = archOf(archCode);
  const uc = p.options.get(OPT.userClass);
  return {
    archCode,
    arch,
    vendorClass,
    pxe: vendorClass?.startsWith('PXEClient') ?? false,
    http: (vendorClass?.startsWith('HTTPClient') ?? false) || arch.transport === 'http',
    ipxe: uc ? userClasses(uc).includes('iPXE') : false,
  };
}
