// explain: a dry run of every stage a machine goes through, with the decision at
// each, why, and what would be served, rendered from the same code and templates
// the live paths use, secrets masked. Changes nothing (an unknown MAC is not recorded).
import type { AppContext } from '../context.js';
import { archOf } from '../dhcp/arch.js';
import { decideBoot, type BootDecision, type Fingerprint } from '../dhcp/bootDecision.js';
import type { Profile } from '../inventory/schema.js';
import type { Node } from '../inventory/store.js';
import { macHyphen } from '../mac.js';
import { MASKED, type FirmwareArch, type ServerAddress } from './context.js';
import type { BootPlane } from './plane.js';

export const EXPLAIN_ARCHES = ['bios', 'uefi', 'ipxe', 'arm64'] as const;
export type ExplainArch = (typeof EXPLAIN_ARCHES)[number];

export interface ExplainStage {
  stage: 'dhcp' | 'loader' | 'loader-config' | 'kernel' | 'installer';
  /** One line: what happens. */
  summary: string;
  /** Why: the rule or field that decided it. */
  reason: string;
  file?: string;
  url?: string;
  template?: string;
  content?: string;
}

export interface Explanation {
  mac: string;
  node: string | null;
  state: Node['state'] | null;
  profile: string | null;
  arch: ExplainArch;
  dhcpMode: string;
  stages: ExplainStage[];
}

/** The firmware's DHCP fingerprint for each arch explain knows. */
const FINGERPRINTS: Record<ExplainArch, { code: number; ipxe: boolean; firmware: FirmwareArch }> = {
  bios: { code: 0, ipxe: false, firmware: 'bios' },
  uefi: { code: 7, ipxe: false, firmware: 'uefi' },
  ipxe: { code: 0, ipxe: true, firmware: 'bios' },
  arm64: { code: 11, ipxe: false, firmware: 'arm64' },
};

function fingerprint(code: number, ipxe: boolean): Fingerprint {
  return { archCode: code, arch: archOf(code), vendorClass: 'PXEClient', pxe: true, http: false, ipxe };
}

function describe(d: BootDecision): string {
  return d.boot ? `boot file ${d.bootFile} over ${d.transport}` : 'no boot file offered';
}

export function explain(
  ctx: AppContext,
  plane: BootPlane,
  server: ServerAddress,
  mac: string,
  node: Node | undefined,
  arch: ExplainArch,
): Explanation {
  const fp = FINGERPRINTS[arch];
  const profile: Profile | null = node?.profile ? (ctx.nodes.getProfile(node.profile) ?? null) : null;
  const settings = {
    serverIp: server.advertise,
    httpPort: server.httpPort,
    installedBoot: ctx.config.dhcp.installedBoot,
  };
  const base: Explanation = {
    mac,
    node: node?.name ?? null,
    state: node?.state ?? null,
    profile: profile?.name ?? null,
    arch,
    dhcpMode: ctx.config.dhcp.mode,
    stages: [],
  };
  const stages = base.stages;
  const dhcpNote = ctx.config.dhcp.mode === 'off' ? ' (dhcp.mode off: your DHCP server must say this)' : '';

  if (!node || node.source === 'discovered') {
    stages.push({
      stage: 'dhcp',
      summary: 'not answered with boot information',
      reason: node
        ? `${node.name} is a discovered machine with no profile: give it one (PATCH /api/v1/nodes/${node.name}) to enrol it`
        : 'unknown MAC: it is recorded as discovered when it PXE-boots, and never installed without an operator',
    });
    return base;
  }

  const first = decideBoot(fingerprint(fp.code, fp.ipxe), node, profile ?? undefined, settings);
  stages.push({
    stage: 'dhcp',
    summary: describe(first) + dhcpNote,
    reason: first.reason,
    ...(first.boot ? { file: first.bootFile } : {}),
  });
  if (!first.boot || !profile) return base;

  const secrets = {
    nodeToken: MASKED.nodeToken,
    joinToken: ctx.config.kubernetes.joinToken || ctx.config.kubernetes.kubeconfig ? MASKED.joinToken : null,
  };
  const tctx = plane.loaderContext(node, profile, mac, fp.firmware, secrets);

  if (profile.loader === 'ipxe') {
    if (!fp.ipxe) {
      const again = decideBoot(fingerprint(fp.code, true), node, profile, settings);
      stages.push({
        stage: 'loader',
        summary: `${first.bootFile} starts iPXE, which asks DHCP again: ${describe(again)}`,
        reason: again.reason,
        ...(again.boot ? { url: again.bootFile } : {}),
      });
    }
    const entry = plane.renderer.entryScript();
    stages.push({
      stage: 'loader-config',
      summary: `boot.ipxe chains to ${tctx.urls.ipxeScript}`,
      reason: 'iPXE fetches its own script by the MAC it booted from',
      url: tctx.urls.ipxeScript,
      template: 'ipxe',
      content: `${entry.content}\n--- ${tctx.urls.ipxeScript} ---\n${plane.renderer.loaderConfig('ipxe', tctx).content}`,
    });
  } else {
    const file = profile.loader === 'pxelinux' ? `pxelinux.cfg/01-${macHyphen(mac)}` : `grub.cfg-01-${macHyphen(mac)}`;
    const rendered = plane.renderer.loaderConfig(profile.loader, tctx);
    stages.push({
      stage: 'loader-config',
      summary: `${profile.loader} reads ${file} over TFTP`,
      reason: `profile ${profile.name} loader ${profile.loader}`,
      file,
      template: rendered.template,
      content: rendered.content,
    });
  }

  if (!tctx.boot.install) {
    stages.push({
      stage: 'kernel',
      summary: `boots its local disk (${tctx.boot.localBoot})`,
      reason: node.netboot
        ? `${node.name} is ${node.state}`
        : `${node.name} is installed (netboot off until a reimage)`,
    });
    return base;
  }
  stages.push({
    stage: 'kernel',
    summary: `kernel ${tctx.urls.kernel} with ${tctx.urls.initrds.length} initrd(s)`,
    reason: `profile ${profile.name}`,
    url: tctx.urls.kernel!,
    content: `cmdline: ${tctx.cmdline}\ninitrd: ${tctx.urls.initrds.join(' ')}`,
  });

  const main =
    profile.installer === 'cloud-init'
      ? 'user-data'
      : profile.installer === 'kickstart'
        ? 'kickstart'
        : profile.installer === 'preseed'
          ? 'preseed'
          : null;
  if (!main) {
    stages.push({
      stage: 'installer',
      summary: 'no installer config',
      reason: `profile ${profile.name} installer none`,
    });
    return base;
  }
  const installer = plane.renderer.installerFile(main, tctx)!;
  stages.push({
    stage: 'installer',
    summary: `${profile.installer} fetches ${main}`,
    reason: `profile ${profile.name} template ${installer.template}${secrets.joinToken ? '' : '; no kubernetes.joinToken or kubeconfig configured: the node will report failed at join'}`,
    url: main === 'user-data' ? tctx.urls.userData : main === 'kickstart' ? tctx.urls.kickstart : tctx.urls.preseed,
    template: installer.template,
    content: installer.content,
  });
  return base;
}
