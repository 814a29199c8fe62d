// Where the end-to-end lab finds things: the repository, its scratch directory, the
// firmware, and whether this machine can run the lab at all.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs as dist/test/e2e/env.js). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(REPO, 'dist/src/cli.js');
/** Kernel, initrd, staged assets and run directories; outside the repository. */
export const E2E_WORK = process.env.RACKJOIN_E2E_WORK ?? '/var/tmp/rackjoin-e2e';

export const FIRMWARE = {
  ovmfCode: process.env.RACKJOIN_E2E_OVMF_CODE ?? '/usr/share/OVMF/OVMF_CODE_4M.fd',
  ovmfVars: process.env.RACKJOIN_E2E_OVMF_VARS ?? '/usr/share/OVMF/OVMF_VARS_4M.fd',
};

const TOOLS = [
  ...['ip', 'qemu-system-x86_64', 'curl', 'python3', 'apt-get', 'dpkg-deb', 'cpio', 'gzip'],
  ...['grub-mkrescue', 'xorriso', 'mformat'], // the local disk (scripts/build-test-disk)
];

/** Why the lab cannot run here, or null. Off CI the e2e tests skip; on CI they fail. */
export function e2eUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'the end-to-end lab needs root (network namespaces, taps)';
  for (const tool of TOOLS) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (scripts/install-deps --test)`;
    }
  }
  for (const f of [FIRMWARE.ovmfCode, FIRMWARE.ovmfVars, '/bin/busybox', '/usr/lib/ipxe/qemu/efi-virtio.rom']) {
    if (!existsSync(f)) return `${f} is missing (scripts/install-deps --test)`;
  }
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return '/dev/net/tun is not usable';
  }
  return null;
}
