// The data every boot and installer template sees (documented in templates/README.md).
// Plain JSON, built fresh per render; secrets enter only through `secrets`, so the
// dry-run (explain) renders the very same templates with masked values.
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { Profile } from '../inventory/schema.js';
import type { Node } from '../inventory/store.js';
import { macHyphen } from '../mac.js';

export interface ServerAddress {
  /** Address nodes reach us at (config advertise, else the interface's). */
  advertise: string;
  httpPort: number;
  tftpPort: number;
}

export interface RenderSecrets {
  /** The node's own token: the credential in its node-facing URLs. */
  nodeToken: string;
  /** kubeadm bootstrap token; null when none is configured or the node is not provisioning. */
  joinToken: string | null;
}

export const MASKED = { nodeToken: '[node-token]', joinToken: '[join-token]' } as const;

export type FirmwareArch = 'bios' | 'uefi' | 'arm64';

export interface TemplateContext {
  node: {
    name: string;
    hostname: string;
    macs: string[];
    ip: string | null;
    labels: Record<string, string>;
    instanceId: string;
    state: string;
  };
  profile: (Profile & { initrd: string[] }) | null;
  vars: Record<string, string>;
  labels: Record<string, string>;
  server: ServerAddress & { base: string };
  urls: {
    base: string;
    ipxeScript: string;
    seed: string;
    userData: string;
    metaData: string;
    networkConfig: string;
    kickstart: string;
    preseed: string;
    callback: string;
    kernel: string | null;
    initrds: string[];
  };
  /** Paths relative to the TFTP root, for pxelinux and GRUB. */
  tftp: { kernel: string | null; initrds: string[] };
  boot: {
    mac: string;
    macHyphen: string;
    /** pxelinux/dracut form: 01-<mac with hyphens> */
    bootif: string;
    arch: FirmwareArch;
    /** true: install now; false: boot the local disk */
    install: boolean;
    localBoot: Profile['localBoot'];
    /** basenames iPXE gives the initrds (for initrd= on an EFI-stub cmdline) */
    initrdNames: string[];
  };
  kubernetes: {
    apiServerEndpoint: string | null;
    caCertHashes: string[];
    joinToken: string | null;
    role: 'worker' | 'control-plane';
    /** k=v,k2=v2 for kubelet --node-labels */
    nodeLabels: string;
    taints: string[];
    /** The whole `kubeadm join ...` line, or null when the config lacks an endpoint or token. */
    joinCommand: string | null;
  };
  /** Filled by the caller after rendering profile.cmdline against this context. */
  cmdline: string;
  /** Rendered helper scripts the installer templates embed (firstboot: join and report). */
  scripts: { firstboot: string };
}

export interface ContextInput {
  config: Config;
  server: ServerAddress;
  node: Node;
  profile: Profile | null;
  /** The MAC this boot came from (one of node.macs). */
  mac: string;
  arch: FirmwareArch;
  secrets: RenderSecrets;
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** Whether a node is to be installed right now (rather than sent to its disk). */
export function installsNow(node: Node, profile: Profile | null): boolean {
  return node.netboot && profile !== null && node.source !== 'discovered' && node.state !== 'failed';
}

export function templateContext(input: ContextInput): TemplateContext {
  const { config, server, node, profile, mac, arch, secrets } = input;
  const base = `http://${server.advertise}:${server.httpPort}`;
  const n = `${base}/n/${secrets.nodeToken}`;
  const asset = (p: string) => (isUrl(p) ? p : `${base}/assets/${p.replace(/^\/+/, '')}`);
  const initrd = profile?.initrd ?? [];
  const labels = { ...(profile?.kubernetes?.labels ?? {}), ...node.labels };
  const k = config.kubernetes;
  const nodeLabels = Object.entries(labels)
    .map(([key, v]) => `${key}=${v}`)
    .join(',');
  const joinCommand =
    k.apiServerEndpoint && secrets.joinToken
      ? [
          'kubeadm join',
          k.apiServerEndpoint,
          `--token ${secrets.joinToken}`,
          ...(k.caCertHashes.length
            ? k.caCertHashes.map((h) => `--discovery-token-ca-cert-hash ${h}`)
            : ['--discovery-token-unsafe-skip-ca-verification']),
          `--node-name ${node.name}`,
          ...(profile?.kubernetes?.role === 'control-plane' ? ['--control-plane'] : []),
        ].join(' ')
      : null;
  return {
    node: {
      name: node.name,
      hostname: node.name,
      macs: node.macs,
      ip: node.ip,
      labels: node.labels,
      // cloud-init re-runs only when instance-id changes; the token changes on every reimage.
      instanceId: `${node.name}-${createHash('sha256').update(secrets.nodeToken).digest('hex').slice(0, 12)}`,
      state: node.state,
    },
    profile: profile ? { ...profile, initrd } : null,
    vars: profile?.vars ?? {},
    labels,
    server: { ...server, base },
    urls: {
      base,
      ipxeScript: `${base}/ipxe/${macHyphen(mac)}`,
      seed: `${n}/`,
      userData: `${n}/user-data`,
      metaData: `${n}/meta-data`,
      networkConfig: `${n}/network-config`,
      kickstart: `${n}/kickstart`,
      preseed: `${n}/preseed`,
      callback: `${base}/api/v1/callback/${secrets.nodeToken}`,
      kernel: profile ? asset(profile.kernel) : null,
      initrds: initrd.map(asset),
    },
    tftp: {
      kernel: profile ? (isUrl(profile.kernel) ? profile.kernel : profile.kernel.replace(/^\/+/, '')) : null,
      initrds: initrd.map((p) => (isUrl(p) ? p : p.replace(/^\/+/, ''))),
    },
    boot: {
      mac,
      macHyphen: macHyphen(mac),
      bootif: `01-${macHyphen(mac)}`,
      arch,
      install: installsNow(node, profile),
      localBoot: node.localBoot ?? profile?.localBoot ?? 'exit',
      initrdNames: initrd.map((p) => p.split('/').pop()!.split('?')[0]!),
    },
    kubernetes: {
      apiServerEndpoint: k.apiServerEndpoint ?? null,
      caCertHashes: k.caCertHashes,
      joinToken: secrets.joinToken,
      role: profile?.kubernetes?.role ?? 'worker',
      nodeLabels,
      taints: profile?.kubernetes?.taints ?? [],
      joinCommand,
    },
    cmdline: '',
    scripts: { firstboot: '' },
  };
}
