// What a booting machine is, in the one vocabulary every part uses: the firmware's
// fingerprint (from its DHCP request, from iPXE's own variables, or named by an
// operator for explain), and the option 93 table it is read against.
//
// Option 93 (client system architecture) is the full IANA "Processor Architecture
// Types" registry as data, with the first-stage file each loader needs there.
// Traps (docs/firmware.md): RFC 4578 once had 7 and 9 swapped, so both mean x64
// UEFI (real x64 firmware sends 7); codes are decimal (RISC-V 64 is 27, not 0x27);
// HTTP-boot clients have their own codes and want an absolute URL.
import type { Profile } from '../inventory/schema.js';

export type Loader = Profile['loader'];

export interface ArchInfo {
  code: number;
  name: string;
  /** How the firmware fetches its first stage: TFTP via PXE, or an http:// URL. */
  transport: 'tftp' | 'http';
  /** bios and uefi firmware behave differently in ProxyDHCP (no option 43 for UEFI). */
  firmware: 'bios' | 'uefi' | 'other';
  /** First-stage file per loader kind; a loader missing here cannot boot this arch. */
  files: Partial<Record<Loader, string>>;
}

const BIOS = { ipxe: 'undionly.kpxe', pxelinux: 'pxelinux.0', grub: 'core.0' };
const X86_EFI = { ipxe: 'ipxe-i386.efi', pxelinux: 'syslinux32.efi', grub: 'grubia32.efi' };
const X64_EFI = { ipxe: 'ipxe.efi', pxelinux: 'syslinux.efi', grub: 'grubx64.efi' };
const ARM32_EFI = { ipxe: 'ipxe-arm32.efi', grub: 'grubarm.efi' };
const ARM64_EFI = { ipxe: 'ipxe-arm64.efi', grub: 'grubaa64.efi' };
const RISCV64_EFI = { ipxe: 'ipxe-riscv64.efi', grub: 'grubriscv64.efi' };

type Row = [
  code: number,
  name: string,
  transport: ArchInfo['transport'],
  firmware: ArchInfo['firmware'],
  files: ArchInfo['files'],
];

const ROWS: Row[] = [
  [0, 'x86 BIOS', 'tftp', 'bios', BIOS],
  [1, 'NEC/PC98 (deprecated)', 'tftp', 'other', {}],
  [2, 'Itanium', 'tftp', 'other', {}],
  [3, 'DEC Alpha (deprecated)', 'tftp', 'other', {}],
  [4, 'Arc x86 (deprecated)', 'tftp', 'other', {}],
  [5, 'Intel Lean Client (deprecated)', 'tftp', 'other', {}],
  [6, 'x86 UEFI', 'tftp', 'uefi', X86_EFI],
  [7, 'x64 UEFI', 'tftp', 'uefi', X64_EFI],
  [8, 'EFI Xscale (deprecated)', 'tftp', 'other', {}],
  // IANA: EBC. Firmware that read the pre-2016 RFC 4578 table sends 9 for x64.
  [9, 'x64 UEFI (EBC code)', 'tftp', 'uefi', X64_EFI],
  [10, 'ARM 32-bit UEFI', 'tftp', 'uefi', ARM32_EFI],
  [11, 'ARM 64-bit UEFI', 'tftp', 'uefi', ARM64_EFI],
  [12, 'PowerPC Open Firmware', 'tftp', 'other', {}],
  [13, 'PowerPC ePAPR', 'tftp', 'other', {}],
  [14, 'POWER OPAL v3', 'tftp', 'other', {}],
  [15, 'x86 UEFI HTTP', 'http', 'uefi', X86_EFI],
  [16, 'x64 UEFI HTTP', 'http', 'uefi', X64_EFI],
  // EBC over HTTP: same reading as 9.
  [17, 'x64 UEFI HTTP (EBC code)', 'http', 'uefi', X64_EFI],
  [18, 'ARM 32-bit UEFI HTTP', 'http', 'uefi', ARM32_EFI],
  [19, 'ARM 64-bit UEFI HTTP', 'http', 'uefi', ARM64_EFI],
  [20, 'x86 BIOS HTTP', 'http', 'bios', { ipxe: 'ipxe.lkrn' }],
  [21, 'ARM 32-bit U-Boot', 'tftp', 'other', {}],
  [22, 'ARM 64-bit U-Boot', 'tftp', 'other', {}],
  [23, 'ARM 32-bit U-Boot HTTP', 'http', 'other', {}],
  [24, 'ARM 64-bit U-Boot HTTP', 'http', 'other', {}],
  [25, 'RISC-V 32-bit UEFI', 'tftp', 'uefi', {}],
  [26, 'RISC-V 32-bit UEFI HTTP', 'http', 'uefi', {}],
  [27, 'RISC-V 64-bit UEFI', 'tftp', 'uefi', RISCV64_EFI],
  [28, 'RISC-V 64-bit UEFI HTTP', 'http', 'uefi', RISCV64_EFI],
  [29, 'RISC-V 128-bit UEFI', 'tftp', 'uefi', {}],
  [30, 'RISC-V 128-bit UEFI HTTP', 'http', 'uefi', {}],
  [31, 's390 Basic', 'tftp', 'other', {}],
  [32, 's390 Extended', 'tftp', 'other', {}],
  [33, 'MIPS 32-bit UEFI', 'tftp', 'uefi', {}],
  [34, 'MIPS 64-bit UEFI', 'tftp', 'uefi', {}],
  [35, 'Sunway 32-bit UEFI', 'tftp', 'uefi', {}],
  [36, 'Sunway 64-bit UEFI', 'tftp', 'uefi', {}],
  [37, 'LoongArch 32-bit UEFI', 'tftp', 'uefi', {}],
  [38, 'LoongArch 32-bit UEFI HTTP', 'http', 'uefi', {}],
  [39, 'LoongArch 64-bit UEFI', 'tftp', 'uefi', {}],
  [40, 'LoongArch 64-bit UEFI HTTP', 'http', 'uefi', {}],
  [41, 'ARM rpiboot', 'tftp', 'other', {}],
];

export const ARCHES: ReadonlyMap<number, ArchInfo> = new Map(
  ROWS.map(([code, name, transport, firmware, files]) => [code, { code, name, transport, firmware, files }]),
);

/**
 * The arch a request claims. No option 93 means a legacy BIOS PXE ROM (RFC 4578
 * makes it mandatory only for PXE 2.1+).
 */
export function archOf(code: number | null): ArchInfo {
  if (code === null) return ARCHES.get(0)!;
  return ARCHES.get(code) ?? { code, name: `unknown (${code})`, transport: 'tftp', firmware: 'other', files: {} };
}

/** The boot-relevant facts of one boot request. */
export interface Fingerprint {
  /** option 93 (first entry), null when absent */
  archCode: number | null;
  arch: ArchInfo;
  vendorClass: string | null;
  /** option 60 starts with PXEClient */
  pxe: boolean;
  /** option 60 starts with HTTPClient, or an HTTP-boot arch code */
  http: boolean;
  /** user class iPXE: the firmware is iPXE already */
  ipxe: boolean;
}

/** A client that asked to network-boot at all; everything else gets an address only. */
export function wantsNetboot(fp: Fingerprint): boolean {
  return fp.pxe || fp.http || fp.ipxe || fp.archCode !== null;
}

/** PXE firmware of arch `code`, as its DHCP request describes it. */
export function pxeFirmware(code: number, ipxe = false): Fingerprint {
  const arch = archOf(code);
  const vendorClass = `${arch.transport === 'http' ? 'HTTP' : 'PXE'}Client:Arch:${String(code).padStart(5, '0')}`;
  return { archCode: code, arch, vendorClass, pxe: arch.transport === 'tftp', http: arch.transport === 'http', ipxe };
}

/** The firmware explain knows by name: what each sends in its DHCP DISCOVER. */
export const NAMED_FIRMWARE = {
  bios: pxeFirmware(0),
  uefi: pxeFirmware(7),
  ipxe: pxeFirmware(0, true),
  arm64: pxeFirmware(11),
} as const satisfies Record<string, Fingerprint>;
export type FirmwareName = keyof typeof NAMED_FIRMWARE;
export const FIRMWARE_NAMES = Object.keys(NAMED_FIRMWARE) as FirmwareName[];

/** iPXE's ${platform} (pcbios, efi) and ${buildarch} (i386, x86_64, arm64, arm32), as a fingerprint. */
export function ipxeFirmware(platform: string | undefined, buildarch: string | undefined): Fingerprint {
  if (platform !== 'efi') return pxeFirmware(0, true);
  const code = { arm64: 11, arm32: 10, i386: 6 }[buildarch ?? ''] ?? 7;
  return pxeFirmware(code, true);
}

/** The firmware family boot templates branch on (`boot.arch`). */
export type FirmwareFamily = 'bios' | 'uefi' | 'arm64';

/** Option 93 codes of 64-bit ARM firmware: UEFI, UEFI HTTP, U-Boot, U-Boot HTTP. */
const ARM64 = new Set([11, 19, 22, 24]);

export function familyOf(fp: Fingerprint): FirmwareFamily {
  if (ARM64.has(fp.arch.code)) return 'arm64';
  return fp.arch.firmware === 'uefi' ? 'uefi' : 'bios';
}

/** The firmware a TFTP-read loader config implies: pxelinux runs on BIOS here, GRUB on UEFI. */
export const LOADER_CONFIG_FIRMWARE: Record<Exclude<Loader, 'ipxe'>, Fingerprint> = {
  pxelinux: NAMED_FIRMWARE.bios,
  grub: NAMED_FIRMWARE.uefi,
};

/** Modules a loader fetches after itself from the same server (pxelinux's ldlinux and .c32 libraries). */
const COMPANIONS: Record<Loader, RegExp | null> = {
  ipxe: null,
  pxelinux: /^(ldlinux\.(c32|e32|e64)|[\w-]+\.c32)$/,
  grub: /^[\w-]+\.(mod|lst)$/,
};

/** True when `file` (a base name) is a first stage of `loader` on some arch, or one of its modules. */
export function isLoaderFile(loader: Loader, file: string): boolean {
  for (const arch of ARCHES.values()) if (arch.files[loader] === file) return true;
  return COMPANIONS[loader]?.test(file) ?? false;
}

/** Config files a loader reads that an operator may supply under assets/ (pxelinux.cfg/default). */
const CONFIGS: Record<Loader, RegExp> = {
  ipxe: /\.ipxe$/,
  pxelinux: /^pxelinux\.cfg\//,
  grub: /(^|\/)grub\.cfg/,
};

export function isLoaderConfig(loader: Loader, path: string): boolean {
  return CONFIGS[loader].test(path);
}
