// QEMU machines on the lab's taps: real firmware (SeaBIOS, OVMF), real NIC option
// ROMs (QEMU's iPXE builds) or none (OVMF's own PXE client), serial console to a
// file, bounded by a timeout. Diskless while they install; a boot after the install
// gets the lab's local disk (scripts/build-test-disk) as the next boot device. The
// guest powers off when the test installer is done, and the disk resets it (QEMU
// runs with -no-reboot), so a finished VM is an exited process.
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { E2E_WORK, FIRMWARE, REPO } from './env.js';
import type { Lab } from './lab.js';

export const BOOT_PATHS = {
  'bios-ipxe': {
    title: 'SeaBIOS + iPXE ROM: HTTP boot script, kernel and initrd over HTTP',
    uefi: false,
    rom: 'default',
    loader: 'ipxe',
  },
  'bios-pxelinux': {
    title: 'SeaBIOS + iPXE ROM: pxelinux.0, its config, kernel and initrd over TFTP',
    uefi: false,
    rom: 'default',
    loader: 'pxelinux',
  },
  'uefi-ipxe': {
    title: 'OVMF + iPXE EFI ROM: HTTP boot script, kernel and initrd over HTTP',
    uefi: true,
    rom: 'default',
    loader: 'ipxe',
  },
  'uefi-pxe': {
    title: 'OVMF native PXE (no NIC ROM): TFTP ipxe.efi with windowsize, then HTTP',
    uefi: true,
    rom: 'none',
    loader: 'ipxe',
  },
} as const;
export type BootPathId = keyof typeof BOOT_PATHS;
export const BOOT_PATH_IDS = Object.keys(BOOT_PATHS) as BootPathId[];

export interface VmSpec {
  name: string;
  mac: string;
  tap: string;
  path: BootPathId;
  /** Hard bound for the whole run; the VM is killed after it. */
  timeoutMs: number;
  nic?: 'virtio-net-pci' | 'e1000';
  memMb?: number;
  /** A disk image (localDisk()) attached read-only as the boot device after the NIC. */
  disk?: string;
  /** Power the VM off once a serial console line matches (checked twice a second). */
  stopWhen?: RegExp;
  /**
   * false: OVMF without its own IPv4 and IPv6 stacks (fw_cfg), so it has no PXE or HTTP boot
   * entries of its own and a NIC ROM's (iPXE's) is its only network boot entry, as on a
   * machine whose firmware network stack is off. Without this OVMF tries its own PXEv4,
   * PXEv6, HTTPv4 and HTTPv6 on the NIC after iPXE, each for its DHCP timeout (~60 s).
   */
  ovmfNetwork?: false;
}

export interface VmResult {
  spec: VmSpec;
  /** Epoch ms just before QEMU was started (power-on). */
  startedAt: number;
  endedAt: number;
  timedOut: boolean;
  /** The console line that matched `stopWhen`, when that is what ended the VM. */
  stoppedOn: string | null;
  exit: number | string | null;
  serialLog: string;
  serial: string;
  /** The installer printed E2E-DONE (it ran every step). */
  done: boolean;
  /** The installer's E2E-FAIL line, if any. */
  failure: string | null;
  /** Every `kubeadm` invocation the stub saw, as its argument string. */
  kubeadm: string[];
  /** The local disk's E2E-DISK line: the firmware got past the network to the disk. */
  disk: string | null;
}

export interface RunningVm {
  spec: VmSpec;
  pid: number | undefined;
  startedAt: number;
  result: Promise<VmResult>;
  kill(): void;
}

let accelCache: 'kvm' | 'tcg' | null = null;

/**
 * tcg unless hardware virtualisation actually boots a guest here. /dev/kvm existing
 * proves little: on nested paravirtual hosts (PVM) it opens, yet firmware hangs or
 * QEMU aborts. So a short probe boots the test kernel with `e2e.probe=1` (the
 * installer powers off at once), and the verdict is cached per host boot.
 * RACKJOIN_E2E_ACCEL=kvm|tcg skips the probe.
 */
export function accelerator(): 'kvm' | 'tcg' {
  const forced = process.env.RACKJOIN_E2E_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (accelCache) return accelCache;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return (accelCache = 'tcg');
  }
  let bootId = 'unknown';
  try {
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    /* keep unknown */
  }
  const cache = join(E2E_WORK, `accel-${bootId}`);
  if (existsSync(cache)) return (accelCache = readFileSync(cache, 'utf8').trim() === 'kvm' ? 'kvm' : 'tcg');
  const installer = join(E2E_WORK, 'installer');
  let verdict: 'kvm' | 'tcg' = 'tcg';
  try {
    const out = execFileSync(
      'qemu-system-x86_64',
      [
        '-accel',
        'kvm',
        '-cpu',
        'host',
        '-machine',
        'pc',
        '-m',
        '256',
        '-nographic',
        '-monitor',
        'none',
        '-serial',
        'stdio',
        '-no-reboot',
        '-nodefaults',
        '-kernel',
        join(installer, 'vmlinuz'),
        '-initrd',
        join(installer, 'initrd.img'),
        '-append',
        'console=ttyS0 e2e.probe=1',
      ],
      { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'ignore'], killSignal: 'SIGKILL' },
    );
    if (out.includes('E2E-PROBE-OK')) verdict = 'kvm';
  } catch {
    /* aborted, hung or failed: no usable KVM */
  }
  try {
    writeFileSync(cache, `${verdict}\n`);
  } catch {
    /* cache is an optimisation */
  }
  return (accelCache = verdict);
}

/** The SMBIOS UUID the firmware sends as DHCP option 97, derived from the MAC. */
export function uuidFor(mac: string): string {
  return `4c4c4544-0000-1000-8000-${mac.replace(/[:-]/g, '').toLowerCase()}`;
}

export function qemuArgs(lab: Lab, spec: VmSpec, serialLog: string): string[] {
  const path = BOOT_PATHS[spec.path];
  const accel = accelerator();
  const nic = spec.nic ?? 'virtio-net-pci';
  const args = [
    '-name',
    `rje2e-${spec.name}`,
    '-m',
    String(spec.memMb ?? 512),
    '-smp',
    '1',
    '-nographic',
    '-monitor',
    'none',
    '-serial',
    `file:${serialLog}`,
    '-no-reboot',
    '-uuid',
    uuidFor(spec.mac),
    '-netdev',
    `tap,id=n0,ifname=${spec.tap},script=no,downscript=no`,
    '-device',
    `${nic},netdev=n0,mac=${spec.mac},bootindex=1${path.rom === 'none' ? ',romfile=' : ''}`,
    ...(accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg']),
  ];
  if (spec.disk) {
    // Read-only: VMs booting at the same time share the image.
    args.push(
      '-drive',
      `file=${spec.disk},if=none,id=disk0,format=raw,readonly=on`,
      '-device',
      'virtio-blk-pci,drive=disk0,bootindex=2',
    );
  }
  if (path.uefi) {
    const vars = join(lab.runDir, `ovmf-vars-${spec.name}.fd`);
    copyFileSync(FIRMWARE.ovmfVars, vars);
    args.push(
      '-machine',
      'q35',
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${FIRMWARE.ovmfCode}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${vars}`,
    );
    if (spec.ovmfNetwork === false) {
      const knobs = ['IPv4Support', 'IPv6Support'];
      args.push(...knobs.flatMap((k) => ['-fw_cfg', `name=opt/org.tianocore/${k},string=no`]));
    }
  } else {
    args.push('-machine', 'pc');
  }
  return args;
}

/**
 * The lab's local disk, built (or found up to date) by scripts/build-test-disk: GRUB
 * for SeaBIOS and OVMF, which prints `E2E-DISK: ...` and resets the VM.
 */
export async function localDisk(): Promise<string> {
  const env = { ...process.env, RACKJOIN_E2E_WORK: E2E_WORK };
  const built = await promisify(execFile)(join(REPO, 'scripts/build-test-disk'), [], { env, timeout: 120_000 });
  return built.stdout.trim().split('\n').pop()!;
}

/** Serial console text as lines: no carriage returns, no terminal escape sequences. */
export function serialLines(serial: string): string[] {
  // eslint-disable-next-line no-control-regex
  return serial.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1bc|\r/g, '').split('\n');
}

export function parseSerial(serial: string): Pick<VmResult, 'done' | 'failure' | 'kubeadm' | 'disk'> {
  const lines = serialLines(serial);
  return {
    disk: lines.find((l) => l.startsWith('E2E-DISK: ')) ?? null,
    done: lines.some((l) => l.startsWith('E2E-DONE')),
    failure: lines.find((l) => l.startsWith('E2E-FAIL')) ?? null,
    // A kernel message printed mid-line ("[    3.43] ...") is not part of the arguments.
    kubeadm: lines
      .filter((l) => l.startsWith('E2E-KUBEADM-ARGS: '))
      .map((l) =>
        l
          .slice('E2E-KUBEADM-ARGS: '.length)
          .replace(/\[\s*\d+\.\d{6}\].*$/, '')
          .trim(),
      ),
  };
}

/** Power a VM on in the lab. Its result resolves when QEMU exits or the timeout kills it. */
export function startVm(lab: Lab, spec: VmSpec): RunningVm {
  const serialLog = join(lab.runDir, `vm-${spec.name}.serial.log`);
  const args = qemuArgs(lab, spec, serialLog);
  const stderrLog = join(lab.runDir, `vm-${spec.name}.qemu.log`);
  const startedAt = Date.now();
  const proc: ChildProcess = lab.spawn(['qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  let timedOut = false;
  let stoppedOn: string | null = null;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL');
  }, spec.timeoutMs);
  const watch = spec.stopWhen
    ? setInterval(() => {
        if (stoppedOn) return; // killed, not exited yet
        let text = '';
        try {
          text = readFileSync(serialLog, 'latin1');
        } catch {
          return; // not written yet
        }
        stoppedOn = serialLines(text).find((l) => spec.stopWhen!.test(l)) ?? null;
        if (stoppedOn) proc.kill('SIGKILL');
      }, 500)
    : null;
  const result = new Promise<VmResult>((resolve) => {
    const finish = (exit: number | string | null) => {
      clearTimeout(timer);
      if (watch) clearInterval(watch);
      const endedAt = Date.now();
      writeFileSync(stderrLog, `qemu-system-x86_64 ${args.join(' ')}\n${stderr}`);
      let serial = '';
      try {
        serial = readFileSync(serialLog, 'latin1');
      } catch {
        /* QEMU never started */
      }
      resolve({ spec, startedAt, endedAt, timedOut, stoppedOn, exit, serialLog, serial, ...parseSerial(serial) });
    };
    proc.once('exit', (code, signal) => finish(code ?? signal));
    proc.once('error', (err) => finish(String(err)));
  });
  return {
    spec,
    pid: proc.pid,
    startedAt,
    result,
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}

/** One line per VM for test diagnostics: how it ended and the installer's last words. */
export function describeVm(r: VmResult): string {
  const tail = r.serial
    .replace(/\r/g, '')
    .split('\n')
    .filter((l) => l.trim())
    .slice(-12)
    .join('\n    ');
  const how = r.timedOut ? ' (timed out)' : r.stoppedOn ? ` (stopped on "${r.stoppedOn}")` : '';
  return `${r.spec.name} (${r.spec.path}): exit ${r.exit}${how} after ${((r.endedAt - r.startedAt) / 1000).toFixed(1)} s; serial ${r.serialLog}\n    ${tail}`;
}
