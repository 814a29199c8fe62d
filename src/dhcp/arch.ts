// Option 93 (client system architecture), the full IANA "Processor Architecture
// Types" registry as data, with the first-stage file each loader needs there.
// Traps (pxe-pitfalls §4.2): RFC 4578 once had 7 and 9 swapped, so both mean x64
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

/** The arch a request claims. No option 93 means a legacy BIOS PXE ROM (RFC 4578 makes it mandatory only for PXE 2.1+). */
export function archOf(code: number | null): ArchInfo {
  if (code === null) return ARCHES.get(0)!;
  return ARCHES.get(code) ?? { code, name: `unknown (${code})`, transport: 'tftp', firmware: 'other', files: {} };
}
