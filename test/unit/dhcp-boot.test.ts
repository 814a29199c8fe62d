import t from 'tap';
import { bootPlan, type DhcpBoot } from '../../src/boot/decide.js';
import { ARCHES, archOf, type Fingerprint } from '../../src/boot/firmware.js';
import { baseUrl } from '../../src/boot/urls.js';
import type { InstalledBoot } from '../../src/config.js';
import { DHCP, parse } from '../../src/dhcp/codec.js';
import { fingerprintOf } from '../../src/dhcp/fingerprint.js';
import type { Profile } from '../../src/inventory/schema.js';
import type { Node } from '../../src/inventory/store.js';
import { buildRequest, CAPTURED, hexOpt } from '../helpers/dhcp.js';

t.test('option 93: the IANA map with its traps', async (t) => {
  for (let code = 0; code <= 41; code++) t.ok(ARCHES.has(code), `IANA code ${code} is known`);
  t.equal(archOf(null).code, 0, 'no option 93: legacy BIOS ROM');
  t.equal(archOf(7).files.ipxe, 'ipxe.efi');
  t.equal(archOf(9).files.ipxe, 'ipxe.efi', '9 is x64 UEFI too (RFC 4578 errata)');
  t.equal(archOf(6).files.ipxe, 'ipxe-i386.efi');
  t.equal(archOf(10).files.ipxe, 'ipxe-arm32.efi');
  t.equal(archOf(11).files.ipxe, 'ipxe-arm64.efi');
  t.equal(archOf(19).files.ipxe, 'ipxe-arm64.efi');
  t.equal(archOf(16).transport, 'http', '16 is x64 HTTP boot, not arm64');
  t.equal(archOf(15).transport, 'http');
  t.equal(archOf(18).transport, 'http');
  t.equal(archOf(20).transport, 'http');
  t.equal(archOf(20).firmware, 'bios');
  t.equal(archOf(27).name, 'RISC-V 64-bit UEFI', 'decimal 27, not 0x27');
  t.equal(archOf(0).files.pxelinux, 'pxelinux.0');
  t.equal(archOf(7).files.grub, 'grubx64.efi');
  t.match(archOf(200), { name: 'unknown (200)', files: {} });
});

interface Settings {
  serverIp: string;
  httpPort: number;
  installedBoot: InstalledBoot;
}
const settings: Settings = { serverIp: '198.18.0.1', httpPort: 8080, installedBoot: 'ipxe-script' };
// Only `loader` matters to the boot decision.
const profile = (loader: Profile['loader']) => ({ name: 'p', loader, localBoot: 'exit' }) as Profile;
const node = { name: 'w1', source: 'file', state: 'registered', loaderFile: null, netboot: true, profile: 'p' } as Node;

/** What the boot decision has DHCP tell firmware `fp` about `n`. */
function decideBoot(fp: Fingerprint, n: Node | undefined, p: Profile | undefined, s: Settings): DhcpBoot {
  const subject = { mac: '52:54:00:00:00:01', node: n ?? null, profile: p ?? null };
  const base = baseUrl({ advertise: s.serverIp, httpPort: s.httpPort });
  return bootPlan(subject, { base, installedBoot: s.installedBoot }).dhcp(fp);
}

function fp(options: [number, string][]): Fingerprint {
  const r = parse(buildRequest({ type: DHCP.DISCOVER, options }));
  if (!r.ok) throw new Error(r.error);
  return fingerprintOf(r.packet);
}

const bios = fp(
  CAPTURED.edk2.map(([c, h]) =>
    c === 93 ? [93, '0000'] : c === 60 ? hexOpt(60, 'PXEClient:Arch:00000:UNDI:002001') : [c, h],
  ),
);
const uefi = fp(CAPTURED.edk2);
const ipxeBios = fp(CAPTURED.biosIpxeRom);
const plain = fp(CAPTURED.udhcpc);
const arm64 = fp([[93, '000b'], hexOpt(60, 'PXEClient:Arch:00011:UNDI:003016')]);
const httpX64 = fp([[93, '0010'], hexOpt(60, 'HTTPClient:Arch:00016:UNDI:003016')]);

t.test('first stage by arch and loader', async (t) => {
  t.match(decideBoot(bios, node, profile('ipxe'), settings), {
    boot: true,
    bootFile: 'undionly.kpxe',
    transport: 'tftp',
    vendorClass: 'PXEClient',
  });
  t.match(decideBoot(bios, node, profile('pxelinux'), settings), { boot: true, bootFile: 'pxelinux.0' });
  t.match(decideBoot(uefi, node, profile('ipxe'), settings), {
    boot: true,
    bootFile: 'ipxe.efi',
    vendorClass: 'PXEClient',
  });
  t.match(decideBoot(uefi, node, profile('grub'), settings), { boot: true, bootFile: 'grubx64.efi' });
  t.match(decideBoot(arm64, node, profile('ipxe'), settings), { boot: true, bootFile: 'ipxe-arm64.efi' });
  t.match(decideBoot(uefi, { ...node, loaderFile: 'snponly.efi' }, profile('ipxe'), settings), {
    boot: true,
    bootFile: 'snponly.efi',
    reason: 'per-node loaderFile',
  });
});

t.test('iPXE gets the script (no loop), unless the profile chains another loader', async (t) => {
  t.match(decideBoot(ipxeBios, node, profile('ipxe'), settings), {
    boot: true,
    bootFile: 'http://198.18.0.1:8080/boot.ipxe',
    transport: 'http',
  });
  t.match(decideBoot(ipxeBios, node, profile('pxelinux'), settings), {
    boot: true,
    bootFile: 'pxelinux.0',
    transport: 'tftp',
  });
});

t.test('UEFI HTTP boot: absolute URL and the HTTPClient echo', async (t) => {
  t.match(decideBoot(httpX64, node, profile('ipxe'), settings), {
    boot: true,
    bootFile: 'http://198.18.0.1:8080/assets/ipxe.efi',
    transport: 'http',
    vendorClass: 'HTTPClient',
  });
  t.match(decideBoot(httpX64, node, profile('ipxe'), { ...settings, httpPort: 80 }), {
    bootFile: 'http://198.18.0.1/assets/ipxe.efi',
  });
});

t.test('no boot file: plain clients, unknown MACs, no profile, missing loader', async (t) => {
  t.match(decideBoot(plain, node, profile('ipxe'), settings), { boot: false, reason: 'not a network-boot client' });
  t.match(decideBoot(bios, undefined, undefined, settings), { boot: false, reason: 'unknown MAC' });
  t.match(decideBoot(bios, { ...node, profile: null }, undefined, settings), {
    boot: false,
    reason: 'node has no profile',
  });
  t.match(decideBoot(arm64, node, profile('pxelinux'), settings), {
    boot: false,
    reason: 'no pxelinux loader for ARM 64-bit UEFI',
  });
});

t.test('installed nodes boot from disk', async (t) => {
  const installed = { ...node, netboot: false };
  t.match(decideBoot(uefi, installed, profile('ipxe'), settings), { boot: false, reason: /installed/ });
  t.match(decideBoot(ipxeBios, installed, profile('ipxe'), settings), {
    boot: true,
    bootFile: 'http://198.18.0.1:8080/boot.ipxe',
    reason: /installed/,
  });
  t.match(decideBoot(ipxeBios, installed, profile('ipxe'), { ...settings, installedBoot: 'no-boot-file' }), {
    boot: false,
  });
  t.match(decideBoot(uefi, installed, profile('ipxe'), { ...settings, installedBoot: 'full-chain' }), {
    boot: true,
    bootFile: 'ipxe.efi',
  });
});

t.test('a failed node is held like an installed one until a reimage', async (t) => {
  const failed = { ...node, state: 'failed' } as Node;
  t.match(decideBoot(uefi, failed, profile('ipxe'), settings), {
    boot: false,
    reason: /^failed: held until a reimage/,
  });
  t.match(decideBoot(ipxeBios, failed, profile('ipxe'), settings), {
    boot: true,
    bootFile: 'http://198.18.0.1:8080/boot.ipxe',
    reason: /boots the local disk/,
  });
  const discovered = { ...node, source: 'discovered', profile: null } as Node;
  t.match(decideBoot(bios, discovered, undefined, settings), { boot: false, reason: /discovered machine/ });
});
