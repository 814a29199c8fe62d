// explain: a dry run of every stage a machine goes through, with the decision at
// each, why, and what would be served. It asks the very code the live paths run:
// the DHCP mode handler on the DISCOVER that firmware sends (nothing applied), and
// the boot plane's loader-config and installer renders, with secrets masked.
// It changes nothing: an unknown MAC is not recorded, no lease is offered.
import { MASKED, type RenderSecrets } from './boot/context.js';
import type { NodeSubject, Subject } from './boot/decide.js';
import {
  LOADER_CONFIG_FIRMWARE,
  NAMED_FIRMWARE,
  pxeFirmware,
  type FirmwareName,
  type Fingerprint,
  type Loader,
} from './boot/firmware.js';
import { INSTALLERS } from './boot/installers.js';
import type { VariableView } from './boot/installerVars.js';
import type { BootAnswer, BootPlane } from './boot/plane.js';
import { baseUrl, entryScriptUrl, installerUrl, nodeScriptUrl, tftpConfigPath, type Endpoint } from './boot/urls.js';
import type { Config } from './config.js';
import type { Outcome } from './dhcp/handler.js';
import { previewDiscover, type PreviewOrigin } from './dhcp/modes.js';
import { MESSAGE_TYPES } from './dhcp/options.js';
import type { Dhcp } from './dhcp/service.js';
import { inCidr, intToIp, ipToInt } from './ip.js';
import type { Inventory } from './inventory/index.js';
import type { NodeState } from './inventory/states.js';
import type { NodeStore } from './inventory/store.js';

export type ExplainStageName = 'dhcp' | 'loader' | 'loader-config' | 'kernel' | 'installer';

export interface ExplainStage {
  stage: ExplainStageName;
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
  state: NodeState | null;
  profile: string | null;
  arch: FirmwareName;
  dhcpMode: string;
  stages: ExplainStage[];
  /** The site check's warnings about this node or its profile (a kernel missing from assets/, ...). */
  warnings: string[];
  /** The installer variables the profile's templates use, with this node's values and where each came from. */
  variables: VariableView[];
}

export interface ExplainDeps {
  config: Config;
  nodes: NodeStore;
  plane: BootPlane;
  /** The DHCP decider; null when dhcp.mode is off. */
  dhcp: Dhcp | null;
  endpoint: Endpoint;
  inventory: Pick<Inventory, 'warningsFor'>;
}

/** What explain renders with: the node's real token and the join token never appear. */
function maskedSecrets(config: Config): RenderSecrets {
  const joins = config.kubernetes.joinToken || config.kubernetes.kubeconfig;
  return { nodeToken: MASKED.nodeToken, joinToken: joins ? MASKED.joinToken : null };
}

export function explain(deps: ExplainDeps, mac: string, arch: FirmwareName): Explanation {
  const found = deps.nodes.findByMac(mac);
  const subject = deps.plane.subjectFor(mac, found);
  const fp = NAMED_FIRMWARE[arch];
  const stages: ExplainStage[] = [];
  const result: Explanation = {
    mac,
    node: found?.name ?? null,
    state: found?.state ?? null,
    profile: subject.profile?.name ?? null,
    arch,
    dhcpMode: deps.config.dhcp.mode,
    stages,
    warnings: found ? deps.inventory.warningsFor(found) : [],
    variables: found && subject.profile ? deps.plane.variables(found, subject.profile) : [],
  };
  const first = dhcpStage(deps, subject, fp);
  stages.push(first.stage);
  // No boot file from us: the firmware has nothing of ours to load.
  if (!found || !first.bootFile) return result;
  const rendered: NodeSubject = { ...subject, node: found };
  const profile = subject.profile!;
  let next = first.bootFile;
  if (profile.loader === 'ipxe' && !fp.ipxe) {
    const again = dhcpStage(deps, subject, pxeFirmware(fp.arch.code, true));
    stages.push({
      stage: 'loader',
      summary: `${first.bootFile} starts iPXE, which asks DHCP again: ${again.stage.summary}`,
      reason: again.stage.reason,
      ...(again.bootFile ? { url: again.bootFile } : {}),
    });
    if (!again.bootFile) return result;
    next = again.bootFile;
  }
  // iPXE handed the entry script fetches its node script; other loaders read their own config.
  const kind = next === entryScriptUrl(baseUrl(deps.endpoint)) ? 'ipxe' : profile.loader;
  stages.push(loaderConfigStage(deps, rendered, kind, fp));
  stages.push(kernelStage(deps, rendered, fp));
  const installer = installerStage(deps, rendered);
  if (installer) stages.push(installer);
  return result;
}

/** Where a DISCOVER from this machine comes from: a relay in the subnet of its reservation, else the served link. */
function originOf(deps: ExplainDeps, subject: Subject): { origin: PreviewOrigin; via: string } {
  const ip = subject.node?.ip ? ipToInt(subject.node.ip) : null;
  const net = deps.dhcp?.net;
  const subnet = ip === null ? undefined : net?.subnets.find((s) => inCidr(ip, s.net));
  if (!subnet || subnet === net?.local) return { origin: { giaddr: 0 }, via: '' };
  const relay = subnet.routers[0] ?? subnet.net.network + 1;
  return { origin: { giaddr: relay }, via: ` (relayed from ${subnet.cidr} by ${intToIp(relay)})` };
}

function dhcpStage(deps: ExplainDeps, subject: Subject, fp: Fingerprint) {
  if (!deps.dhcp) {
    const d = deps.plane.plan(subject).dhcp(fp);
    const summary = d.boot ? `boot file ${d.bootFile} over ${d.transport}` : 'no boot file offered';
    const stage: ExplainStage = {
      stage: 'dhcp',
      summary: `${summary} (dhcp.mode off: your DHCP server must say this)`,
      reason: d.reason,
      ...(d.boot ? { file: d.bootFile } : {}),
    };
    return { stage, bootFile: d.boot ? d.bootFile : null };
  }
  const { origin, via } = originOf(deps, subject);
  const out = previewDiscover(deps.dhcp.ctx, subject.mac, fp, origin);
  const bootFile = out.reply && out.boot ? out.boot.bootFile : null;
  const stage: ExplainStage = {
    stage: 'dhcp',
    summary: describeOutcome(out) + via,
    reason: out.reason ?? out.drop ?? '',
    ...(bootFile ? { file: bootFile } : {}),
  };
  return { stage, bootFile };
}

function describeOutcome(out: Outcome): string {
  if (!out.reply) {
    const seen = out.discovered ? '; recorded as discovered' : '';
    return `not answered (${out.drop ?? 'no reply due'})${seen}`;
  }
  const type = MESSAGE_TYPES[out.reply.type]!;
  const yiaddr = out.reply.packet.yiaddr;
  const address = yiaddr ? ` with ${intToIp(yiaddr)}` : '';
  const boot = out.boot ? `boot file ${out.boot.bootFile} over ${out.boot.transport}` : 'no boot file';
  return `${type}${address}: ${boot}`;
}

function loaderConfigStage(deps: ExplainDeps, s: NodeSubject, loader: Loader, fp: Fingerprint): ExplainStage {
  const secrets = maskedSecrets(deps.config);
  const base = baseUrl(deps.endpoint);
  if (loader === 'ipxe') {
    const url = nodeScriptUrl(base, s.mac);
    const answer = deps.plane.loaderConfig(s, 'ipxe', pxeFirmware(fp.arch.code, true), secrets);
    const entry = deps.plane.entryScript();
    const head = { stage: 'loader-config', url, template: 'ipxe' } as const;
    if (!answer.ok) return { ...head, summary: `boot.ipxe chains to ${url}, which answers 404`, reason: answer.reason };
    return {
      ...head,
      summary: `boot.ipxe chains to ${url}`,
      reason: `iPXE fetches its own script by the MAC it booted from; ${answer.reason}`,
      content: `${entry.content}\n--- ${url} ---\n${answer.rendered.content}`,
    };
  }
  const file = tftpConfigPath(loader, s.mac);
  const answer = deps.plane.loaderConfig(s, loader, LOADER_CONFIG_FIRMWARE[loader], secrets);
  return withAnswer({ stage: 'loader-config', summary: `${loader} reads ${file} over TFTP`, file }, answer);
}

function withAnswer(head: Omit<ExplainStage, 'reason'>, answer: BootAnswer): ExplainStage {
  if (!answer.ok) return { ...head, summary: `${head.summary}: not served`, reason: answer.reason };
  return { ...head, reason: answer.reason, template: answer.rendered.template, content: answer.rendered.content };
}

function kernelStage(deps: ExplainDeps, s: NodeSubject, fp: Fingerprint): ExplainStage {
  const intent = deps.plane.plan(s).intent;
  if (intent.kind !== 'install') {
    const how = intent.kind === 'local' ? intent.localBoot : 'exit';
    return { stage: 'kernel', summary: `boots its local disk (${how})`, reason: intent.reason };
  }
  const ctx = deps.plane.context(s, fp, maskedSecrets(deps.config));
  return {
    stage: 'kernel',
    summary: `kernel ${ctx.urls.kernel} with ${ctx.urls.initrds.length} initrd(s)`,
    reason: `profile ${s.profile!.name}`,
    url: ctx.urls.kernel!,
    content: `cmdline: ${ctx.cmdline}\ninitrd: ${ctx.urls.initrds.join(' ')}`,
  };
}

function installerStage(deps: ExplainDeps, s: NodeSubject): ExplainStage | null {
  const profile = s.profile!;
  if (deps.plane.plan(s).intent.kind !== 'install') return null;
  const main = INSTALLERS[profile.installer].main;
  if (!main)
    return { stage: 'installer', summary: 'no installer config', reason: `profile ${profile.name} installer none` };
  const secrets = maskedSecrets(deps.config);
  const url = installerUrl(baseUrl(deps.endpoint), secrets.nodeToken, main);
  const noJoin = secrets.joinToken
    ? ''
    : '; no kubernetes.joinToken or kubeconfig configured: the node will report failed at join';
  return withAnswer(
    { stage: 'installer', summary: `${profile.installer} fetches ${main}`, url },
    annotate(deps.plane.installerFile(s, main, secrets), noJoin),
  );
}

function annotate(answer: BootAnswer, note: string): BootAnswer {
  return answer.ok ? { ...answer, reason: `${answer.reason}; template ${answer.rendered.template}${note}` } : answer;
}
