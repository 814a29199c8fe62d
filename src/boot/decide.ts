// The boot decision: for one machine (a node, a discovered machine, or a MAC we
// do not know), what it gets at every stage of a network boot, and why. The
// only place these rules live; DHCP, the TFTP and HTTP boot files, the installer
// route and `explain` all ask the plan this returns, so none of them can tell a
// machine something the others do not (docs/boot-decision.md).
//
// The chain: firmware PXE gets a first-stage loader over TFTP (by option 93 and
// the profile's loader); iPXE (user class "iPXE") gets the HTTP entry script,
// which chains to the node's script by MAC, so iPXE never gets iPXE again; UEFI
// HTTP-boot firmware gets an absolute http:// URL and the "HTTPClient" echo it
// insists on. A node that is not being installed boots its disk.
import type { InstalledBoot } from '../config.js';
import { LOADERS, type Profile } from '../inventory/schema.js';
import { installsNow } from '../inventory/states.js';
import type { Node } from '../inventory/store.js';
import type { FileRole } from '../lifecycle/machine.js';
import { isLoaderConfig, isLoaderFile, wantsNetboot, type Fingerprint, type Loader } from './firmware.js';
import { INSTALLERS, isInstallerFile, type InstallerFile } from './installers.js';
import { assetPath, assetUrl, entryScriptUrl } from './urls.js';

/** The machine a decision is about. */
export interface Subject {
  mac: string;
  /** null: not in the database at all. */
  node: Node | null;
  profile: Profile | null;
}

/** A machine that has a node record (an inventory or a discovered one). */
export type NodeSubject = Subject & { node: Node };

export interface BootSettings {
  /** http://<advertise>[:port]: what URLs in DHCP answers start with. */
  base: string;
  /** What DHCP tells a node that boots its disk (config dhcp.installedBoot). */
  installedBoot: InstalledBoot;
}

export type LocalBoot = Profile['localBoot'];

/** What this machine is to be doing now. */
export type Intent =
  | { kind: 'install'; reason: string }
  /** Boots its own disk: installed, or failed and held until a reimage. */
  | { kind: 'local'; localBoot: LocalBoot; reason: string }
  /** Unknown, discovered, or without a profile: nothing to install, ever, without an operator. */
  | { kind: 'ignore'; reason: string };

export type DhcpBoot =
  | {
      boot: true;
      /** TFTP path (also in `file`) or absolute http:// URL */
      bootFile: string;
      transport: 'tftp' | 'http';
      /** option 60 to echo: firmware ignores offers without it */
      vendorClass: 'PXEClient' | 'HTTPClient' | null;
      reason: string;
    }
  | { boot: false; reason: string };

/** The loader's per-node config (iPXE script, pxelinux or GRUB config): rendered, or a 404. */
export type LoaderConfigAnswer = { serve: true; install: boolean; reason: string } | { serve: false; reason: string };

export type InstallerAnswer = { serve: true; file: InstallerFile; reason: string } | { serve: false; reason: string };

export interface BootPlan {
  intent: Intent;
  /** What a DHCP reply tells this firmware to load, or why it gets no boot file. */
  dhcp(fp: Fingerprint): DhcpBoot;
  loaderConfig(): LoaderConfigAnswer;
  /** Whether the installer file `name` is served to this machine. */
  installerFile(name: string): InstallerAnswer;
  /** What a file under assets/ is to this machine's progress. */
  roleOf(path: string): FileRole;
}

/**
 * A machine without a record gets the same answers whatever its MAC: its plan is
 * made once per settings (DHCP asks for one per packet from every stranger on a pool).
 */
const unknownPlans = new WeakMap<BootSettings, BootPlan>();

export function bootPlan(subject: Subject, settings: BootSettings): BootPlan {
  if (subject.node || subject.profile) return planOf(subject, settings);
  let plan = unknownPlans.get(settings);
  if (!plan) unknownPlans.set(settings, (plan = planOf({ mac: '', node: null, profile: null }, settings)));
  return plan;
}

function planOf(subject: Subject, settings: BootSettings): BootPlan {
  const intent = intentOf(subject);
  return {
    intent,
    dhcp: (fp) => dhcpBoot(subject, intent, fp, settings),
    loaderConfig: () => loaderConfig(intent),
    installerFile: (name) => installerFile(subject, intent, name),
    roleOf: (path) => roleOf(subject, path),
  };
}

export function intentOf({ node, profile }: Subject): Intent {
  if (!node) return { kind: 'ignore', reason: 'unknown MAC' };
  if (node.source === 'discovered') {
    return { kind: 'ignore', reason: `${node.name} is a discovered machine: give it a profile to enrol it` };
  }
  if (!node.profile || !profile) return { kind: 'ignore', reason: 'node has no profile' };
  if (installsNow(node)) return { kind: 'install', reason: `${node.name} is ${node.state} and armed for install` };
  const localBoot = localBootOf(node, profile);
  if (!node.netboot) return { kind: 'local', localBoot, reason: 'installed' };
  if (node.state === 'failed') return { kind: 'local', localBoot, reason: 'failed: held until a reimage' };
  return { kind: 'local', localBoot, reason: node.state };
}

/** How the node boots its disk when it does: its own setting, else its profile's. */
export function localBootOf(node: Node, profile: Profile | null): LocalBoot {
  return node.localBoot ?? profile?.localBoot ?? 'exit';
}

const NOT_NETBOOT: DhcpBoot = Object.freeze({ boot: false, reason: 'not a network-boot client' });

function dhcpBoot(s: Subject, intent: Intent, fp: Fingerprint, settings: BootSettings): DhcpBoot {
  if (!wantsNetboot(fp)) return NOT_NETBOOT;
  if (intent.kind === 'ignore') return { boot: false, reason: intent.reason };
  const echo = fp.http ? 'HTTPClient' : fp.pxe ? 'PXEClient' : null;
  const script = (reason: string): DhcpBoot => ({
    boot: true,
    bootFile: entryScriptUrl(settings.base),
    transport: 'http',
    vendorClass: echo,
    reason,
  });
  if (intent.kind === 'local' && settings.installedBoot !== 'full-chain') {
    if (settings.installedBoot === 'ipxe-script' && fp.ipxe) {
      return script(`${intent.reason}: iPXE gets the script, which boots the local disk`);
    }
    return { boot: false, reason: `${intent.reason}: no boot file, firmware boots from disk` };
  }
  // Installing, or full-chain: the loader config then sends a local node to its disk.
  const node = s.node!;
  const loader = s.profile!.loader;
  if (fp.ipxe && loader === 'ipxe') return script('iPXE client: boot script');
  const file = node.loaderFile ?? fp.arch.files[loader];
  if (!file) return { boot: false, reason: `no ${loader} loader for ${fp.arch.name}` };
  const why = node.loaderFile ? 'per-node loaderFile' : `${loader} loader for ${fp.arch.name}`;
  if (fp.http) {
    const url = assetUrl(settings.base, file);
    return { boot: true, bootFile: url, transport: 'http', vendorClass: 'HTTPClient', reason: `HTTP boot: ${why}` };
  }
  return { boot: true, bootFile: file, transport: 'tftp', vendorClass: echo, reason: why };
}

function loaderConfig(intent: Intent): LoaderConfigAnswer {
  if (intent.kind === 'install') return { serve: true, install: true, reason: intent.reason };
  if (intent.kind === 'local' && intent.localBoot === 'http-404') {
    return { serve: false, reason: `${intent.reason}: boots from disk (localBoot http-404)` };
  }
  // Unknown and discovered machines get the local-boot answer too: firmware-safe, never an install.
  return { serve: true, install: false, reason: `${intent.reason}: boots from its local disk` };
}

function installerFile(s: Subject, intent: Intent, name: string): InstallerAnswer {
  if (!isInstallerFile(name)) return { serve: false, reason: `${name} is not an installer file` };
  if (intent.kind !== 'install') {
    const who = s.node ? `${s.node.name} is ${s.node.state}` : 'unknown machine';
    return { serve: false, reason: `${who}, not provisioning` };
  }
  const installer = s.profile!.installer;
  if (!INSTALLERS[installer].files.includes(name)) {
    return { serve: false, reason: `profile ${s.profile!.name} has no ${name}` };
  }
  return { serve: true, file: name, reason: `profile ${s.profile!.name} installer ${installer}` };
}

function roleOf({ node, profile }: Subject, path: string): FileRole {
  const name = assetPath(path);
  if (profile) {
    const matches = (ref: string) => assetPath(ref) === name || ref.endsWith(`/${name}`);
    if (matches(profile.kernel)) return 'kernel';
    if (profile.initrd.some(matches)) return 'initrd';
  }
  const base = name.split('/').pop()!;
  const loaders: readonly Loader[] = profile ? [profile.loader] : LOADERS;
  if (node?.loaderFile && assetPath(node.loaderFile) === name) return 'loader';
  if (loaders.some((l) => isLoaderFile(l, base))) return 'loader';
  if (loaders.some((l) => isLoaderConfig(l, name))) return 'boot-config';
  return 'asset';
}
