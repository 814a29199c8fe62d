// The data every boot and installer template sees (documented in templates/README.md).
// Plain JSON, built fresh per render; secrets enter only through `secrets`, so the
// dry-run (explain) renders the very same templates with masked values.
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import type { Profile } from '../inventory/schema.js';
import type { Node } from '../inventory/store.js';
import { macHyphen } from '../mac.js';
import { templateVars } from './installerVars.js';
import type { FirmwareFamily } from './firmware.js';
import { assetPath, assetUrl, baseUrl, callbackUrl, installerUrl, nodeScriptUrl, type Endpoint } from './urls.js';

export interface RenderSecrets {
  /** The node's own token: the credential in its node-facing URLs. */
  nodeToken: string;
  /** kubeadm bootstrap token; null when none is configured or the node is not provisioning. */
  joinToken: string | null;
}

export const MASKED = { nodeToken: '[node-token]', joinToken: '[join-token]' } as const;

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
  /** Installer variables: the node's over the profile's over the defaults (installerVars.ts). */
  vars: Record<string, string>;
  labels: Record<string, string>;
  server: Endpoint & { base: string };
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
    arch: FirmwareFamily;
    /** true: install now; false: boot the local disk (the boot decision's answer) */
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
  /**
   * Rendered helper scripts the installer templates embed: firstboot (join and report),
   * kubernetesApt (the Kubernetes steps of apt-based installers).
   */
  scripts: { firstboot: string; kubernetesApt: string };
}

export interface ContextInput {
  config: Config;
  server: Endpoint;
  node: Node;
  profile: Profile | null;
  /** The MAC this boot came from (one of node.macs). */
  mac: string;
  arch: FirmwareFamily;
  /** The boot decision: install now, or boot the local disk. */
  install: boolean;
  localBoot: Profile['localBoot'];
  secrets: RenderSecrets;
}

export function templateContext(input: ContextInput): TemplateContext {
  const { config, server, node, profile, mac, arch, secrets } = input;
  const base = baseUrl(server);
  const file = (f: Parameters<typeof installerUrl>[2]) => installerUrl(base, secrets.nodeToken, f);
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
    vars: templateVars(profile, node),
    labels,
    server: { ...server, base },
    urls: {
      base,
      ipxeScript: nodeScriptUrl(base, mac),
      seed: file(''),
      userData: file('user-data'),
      metaData: file('meta-data'),
      networkConfig: file('network-config'),
      kickstart: file('kickstart'),
      preseed: file('preseed'),
      callback: callbackUrl(base, secrets.nodeToken),
      kernel: profile ? assetUrl(base, profile.kernel) : null,
      initrds: initrd.map((p) => assetUrl(base, p)),
    },
    tftp: {
      kernel: profile ? assetPath(profile.kernel) : null,
      initrds: initrd.map(assetPath),
    },
    boot: {
      mac,
      macHyphen: macHyphen(mac),
      bootif: `01-${macHyphen(mac)}`,
      arch,
      install: input.install,
      localBoot: input.localBoot,
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
    scripts: { firstboot: '', kubernetesApt: '' },
  };
}
