// What the inventory files mean for the machines that will boot from them: a
// reserved IP DHCP could never give, a template that does not render, a kernel
// command line that cannot reach its installer config are errors (the reload is
// refused); a kernel, initrd or loader missing from assets/ is a warning (the
// files may arrive later, and the node's view says so until they do), and so is
// an installing node leased an address without a name server or router (leaseNeeds.ts).
import { resolveAssetSync } from '../assets.js';
import { MASKED } from '../boot/context.js';
import { NAMED_FIRMWARE } from '../boot/firmware.js';
import { INSTALLERS } from '../boot/installers.js';
import { varProblem, variablesOf, type VariableView } from '../boot/installerVars.js';
import type { BootRenderer } from '../boot/render.js';
import { isUrl } from '../boot/urls.js';
import type { Config } from '../config.js';
import type { InventorySource } from '../inventory/files.js';
import type { NodeSpec, Profile } from '../inventory/schema.js';
import type { Node } from '../inventory/store.js';
import { normalizeMac } from '../mac.js';
import { didYouMean } from '../suggest.js';
import type { ReservationRules } from './addresses.js';
import { error, warning, type Finding, type Located } from '../findings.js';
import { checkLeaseNeeds } from './leaseNeeds.js';

export interface InventoryCheckDeps {
  rules: ReservationRules;
  renderer: BootRenderer;
  assets: string;
  kubernetes: Config['kubernetes'];
  /** The subnets DHCP leases in, for the name servers its leases carry. */
  dhcp: Config['dhcp'];
  /**
   * Profiles that exist outside these files (API-managed ones in the database);
   * null when the database is not at hand (`rackjoin check`, a start before it opens).
   */
  otherProfiles: (() => Iterable<string>) | null;
}

export function checkInventory(sources: InventorySource[], deps: InventoryCheckDeps): Finding[] {
  const profiles: Located<Profile>[] = [];
  const nodes: Located<NodeSpec>[] = [];
  for (const src of sources) {
    src.inventory.profiles.forEach((value, i) => profiles.push({ value, where: at(src.file, src.lines.profiles[i]) }));
    src.inventory.nodes.forEach((value, i) => nodes.push({ value, where: at(src.file, src.lines.nodes[i]) }));
  }
  const known = new Set([...profiles.map((p) => p.value.name), ...(deps.otherProfiles?.() ?? [])]);
  return [
    ...nodes.flatMap((n) => checkNode(n, known, profiles, deps)),
    ...profiles.flatMap((p) =>
      checkProfile(
        p,
        nodes.find((n) => n.value.profile === p.value.name),
        deps,
      ),
    ),
    ...checkLeaseNeeds(profiles, nodes, deps.dhcp),
  ];
}

const at = (file: string, line: number | undefined) => (line ? `${file}:${line}` : file);

function checkNode(
  { value: n, where }: Located<NodeSpec>,
  known: Set<string>,
  profiles: Located<Profile>[],
  deps: InventoryCheckDeps,
): Finding[] {
  const out: Finding[] = [];
  const about = { node: n.name };
  const reserved = n.ip ? deps.rules.problem(n.ip) : null;
  if (reserved) out.push(error(where, `node ${n.name}: ip ${reserved}`, about));
  if (n.profile && !known.has(n.profile)) {
    // Without the database an API profile (rackjoin import) is unknown here: the reload, which sees it, decides.
    const grade = deps.otherProfiles ? error : warning;
    const note = deps.otherProfiles ? '' : ' in the inventory files (an API-managed profile, or none at all)';
    out.push(grade(where, `node ${n.name}: no profile ${n.profile}${note}`, about));
  }
  for (const problem of varProblems(n.vars)) out.push(error(where, `node ${n.name}: vars.${problem}`, about));
  const profile = profiles.find((p) => p.value.name === n.profile)?.value;
  if (profile) out.push(...unusedVars(profile, n.vars, `node ${n.name}`, where, about, deps.renderer));
  if (n.loaderFile && !resolveAssetSync(deps.assets, n.loaderFile).ok)
    out.push(warning(where, `node ${n.name}: loaderFile ${n.loaderFile} is not in assets/ (${deps.assets})`, about));
  return out;
}

function checkProfile(
  entry: Located<Profile>,
  user: Located<NodeSpec> | undefined,
  deps: InventoryCheckDeps,
): Finding[] {
  const { value: p, where } = entry;
  const about = { profile: p.name };
  const out: Finding[] = [];
  for (const problem of varProblems(p.vars)) out.push(error(where, `profile ${p.name}: vars.${problem}`, about));
  out.push(...unusedVars(p, p.vars, `profile ${p.name}`, where, about, deps.renderer));
  for (const [what, ref] of [['kernel', p.kernel], ...p.initrd.map((i) => ['initrd', i])] as [string, string][]) {
    if (isUrl(ref) || resolveAssetSync(deps.assets, ref).ok) continue;
    const stop = what === 'kernel' ? 'after their boot config' : 'after the kernel';
    out.push(
      warning(
        where,
        `profile ${p.name}: ${what} ${ref} is not in assets/ (${deps.assets}): its nodes will stop ${stop}`,
        about,
      ),
    );
  }
  for (const [fw, firmware] of [
    ['BIOS', NAMED_FIRMWARE.bios],
    ['UEFI', NAMED_FIRMWARE.uefi],
  ] as const) {
    const file = firmware.arch.files[p.loader];
    if (file && !resolveAssetSync(deps.assets, file).ok)
      out.push(
        warning(where, `profile ${p.name}: ${fw} machines need ${file} in assets/ for loader ${p.loader}`, about),
      );
  }
  if (p.installer !== 'none' && !deps.kubernetes.apiServerEndpoint)
    out.push(
      warning(where, `profile ${p.name}: no kubernetes.apiServerEndpoint, so its nodes install but never join`, about),
    );
  out.push(...trialRender(p, where, sampleNode(p, user?.value), deps.renderer));
  return out;
}

/**
 * Render everything a node of this profile will be served, with masked secrets,
 * so a template error is found now and not by the first machine that boots: the
 * loader configs (its own loader's, and iPXE's, which any iPXE client gets) while
 * it installs and once installed (the local-boot branch), and every installer file.
 */
function trialRender(p: Profile, where: string, node: Node, renderer: BootRenderer): Finding[] {
  const about = { profile: p.name };
  const fail = (err: unknown) => [error(where, `profile ${p.name}: ${(err as Error).message}`, about)];
  let ctx;
  try {
    const installed = { ...node, state: 'installed' as const, netboot: false };
    for (const kind of new Set([p.loader, 'ipxe' as const])) {
      renderer.loaderConfig(kind, renderer.context(installed, p, node.macs[0]!, 'bios', { ...MASKED }));
    }
    ctx = renderer.context(node, p, node.macs[0]!, 'bios', { ...MASKED });
    for (const kind of new Set([p.loader, 'ipxe' as const])) renderer.loaderConfig(kind, ctx);
    for (const file of INSTALLERS[p.installer].files) renderer.installerFile(file, ctx);
  } catch (err) {
    return fail(err);
  }
  const entry = INSTALLERS[p.installer].entry;
  if (entry && !ctx.cmdline.includes(ctx.urls[entry])) {
    const hint = entry === 'seed' ? 'ds=nocloud-net;s={{urls.seed}}' : `{{urls.${entry}}}`;
    const msg = `profile ${p.name}: cmdline never names its ${p.installer} config (add ${hint}), so the installer could not find it`;
    return [error(where, msg, about)];
  }
  return [];
}

/** A variable none of the profile's templates reads is a typo or a leftover: it changes nothing. */
function unusedVars(
  p: Profile,
  vars: Record<string, string> | undefined,
  who: string,
  where: string,
  about: Pick<Finding, 'profile' | 'node'>,
  renderer: BootRenderer,
): Finding[] {
  const used = renderer.variablesUsed(p);
  return Object.keys(vars ?? {})
    .filter((name) => !used.includes(name))
    .map((name) =>
      warning(
        where,
        `${who}: vars.${name} is used by none of profile ${p.name}'s templates${didYouMean(name, used)}`,
        about,
      ),
    );
}

function varProblems(vars: Record<string, string> | undefined): string[] {
  return Object.entries(vars ?? {})
    .map(([name, value]) => varProblem(name, value))
    .filter((p): p is string => p !== null);
}

/** One installer profile's variables, as its first node (or a stand-in) would get them. */
export interface ProfileVariables {
  profile: string;
  node: string;
  variables: VariableView[];
}

/** For `rackjoin check`: what every installer profile's templates use, and the values. */
export function installerVariables(sources: InventorySource[], renderer: BootRenderer): ProfileVariables[] {
  const nodes = sources.flatMap((s) => s.inventory.nodes);
  return sources
    .flatMap((s) => s.inventory.profiles)
    .filter((p) => p.installer !== 'none')
    .map((p) => {
      const node = sampleNode(
        p,
        nodes.find((n) => n.profile === p.name),
      );
      return { profile: p.name, node: node.name, variables: variablesOf(renderer.variablesUsed(p), p, node) };
    });
}

/** The profile's first node as a database row would hold it, or a stand-in when no node uses it yet. */
function sampleNode(p: Profile, spec: NodeSpec | undefined): Node {
  return {
    id: 0,
    name: spec?.name ?? 'check-node',
    macs: [normalizeMac(spec?.macs[0] ?? '') ?? '02:00:00:00:00:01'],
    ip: spec?.ip ?? null,
    profile: p.name,
    labels: spec?.labels ?? {},
    vars: spec?.vars ?? {},
    bmc: null,
    loaderFile: null,
    localBoot: null,
    source: 'file',
    sourceFile: null,
    state: 'registered',
    stateSince: 0,
    stages: {},
    netboot: true,
    createdAt: 0,
    updatedAt: 0,
  };
}
