// The machines the end-to-end tests (and the demo and bench) boot: one node per
// firmware path for the single-VM matrix, four more for the four-at-once run, each
// with its own MAC, name and profile, so each gets its own rendered config.
import type { NodeSpec, ProfileSpec } from './rackjoin.js';
import { BOOT_PATHS, BOOT_PATH_IDS, type BootPathId } from './vm.js';

export const PROFILES: ProfileSpec[] = [
  { name: 'e2e-ipxe', loader: 'ipxe', labels: { pool: 'e2e' } },
  { name: 'e2e-pxelinux', loader: 'pxelinux', labels: { pool: 'e2e' } },
  { name: 'e2e-ipxe-cp', loader: 'ipxe', role: 'control-plane', labels: { pool: 'e2e-cp' } },
];

export interface Machine extends NodeSpec {
  path: BootPathId;
  role: 'worker' | 'control-plane';
}

function machine(group: 'm' | 'p', index: number, path: BootPathId, role: Machine['role'] = 'worker'): Machine {
  const loader = BOOT_PATHS[path].loader;
  const profile = role === 'control-plane' ? 'e2e-ipxe-cp' : loader === 'pxelinux' ? 'e2e-pxelinux' : 'e2e-ipxe';
  const mac = `52:54:00:e2:${group === 'm' ? '01' : '02'}:${(index + 1).toString(16).padStart(2, '0')}`;
  return {
    name: `${group}-${path}`,
    mac,
    profile,
    path,
    role,
    labels: { firmware: path, group: group === 'm' ? 'matrix' : 'parallel' },
  };
}

/** One VM per firmware path, booted one after another. */
export const MATRIX: Machine[] = BOOT_PATH_IDS.map((p, i) => machine('m', i, p));

/**
 * Four at once, one per path; one of them a control-plane node (its join differs), one
 * that boots its disk with `localBoot: http-404` once installed (its script is a 404, so
 * its local boot goes through the entry script's retry).
 */
export const PARALLEL: Machine[] = BOOT_PATH_IDS.map((p, i) => ({
  ...machine('p', i, p, p === 'uefi-ipxe' ? 'control-plane' : 'worker'),
  ...(p === 'bios-ipxe' ? { localBoot: 'http-404' as const } : {}),
}));

export const ALL_MACHINES: Machine[] = [...MATRIX, ...PARALLEL];
