// bootRenderer: which template a machine gets at each stage, rendered against its
// context. What to render (install or local boot, which installer file) is the boot
// decision's (decide.ts); this only turns that answer into text.
import type { Config } from '../config.js';
import type { Profile } from '../inventory/schema.js';
import type { Node } from '../inventory/store.js';
import { templateContext, type RenderSecrets, type TemplateContext } from './context.js';
import { intentOf, localBootOf } from './decide.js';
import type { FirmwareFamily } from './firmware.js';
import { INSTALLERS, type InstallerFile } from './installers.js';
import type { TemplateStore } from './templates.js';
import { baseUrl, type Endpoint } from './urls.js';

/** The helper scripts installer templates embed, and the template each is rendered from. */
const SCRIPTS: [keyof TemplateContext['scripts'], string][] = [
  ['firstboot', 'firstboot'],
  ['kubernetesApt', 'kubernetes-apt'],
];

export type LoaderKind = Profile['loader'];

export interface Rendered {
  template: string;
  content: string;
}

export class BootRenderer {
  constructor(
    private readonly config: Config,
    private readonly templates: TemplateStore,
    private readonly endpoint: Endpoint,
  ) {}

  context(
    node: Node,
    profile: Profile | null,
    mac: string,
    arch: FirmwareFamily,
    secrets: RenderSecrets,
  ): TemplateContext {
    const ctx = templateContext({
      config: this.config,
      server: this.endpoint,
      node,
      profile,
      mac,
      arch,
      install: intentOf({ mac, node, profile }).kind === 'install',
      localBoot: localBootOf(node, profile),
      secrets,
    });
    if (profile?.cmdline) {
      ctx.cmdline = this.templates.renderString(`profile ${profile.name} cmdline`, profile.cmdline, ctx).trim();
    }
    if (profile && profile.installer !== 'none') {
      for (const [key, template] of SCRIPTS) ctx.scripts[key] = this.templates.render(template, ctx);
    }
    return ctx;
  }

  /**
   * The variables the profile's templates refer to: its loader configs (and iPXE's),
   * its installer files, the helper scripts they embed, and its cmdline.
   */
  variablesUsed(profile: Profile): string[] {
    const kind = INSTALLERS[profile.installer];
    const family = profile.template ?? kind.family;
    const names: string[] = [profile.loader, 'ipxe'];
    if (family) {
      for (const file of kind.files) names.push(this.templates.has(`${family}.${file}`) ? `${family}.${file}` : file);
      names.push(...SCRIPTS.map(([, template]) => template));
    }
    const used = new Set([
      ...names.flatMap((n) => this.templates.varsUsed(n)),
      ...this.templates.varsUsedByString(profile.cmdline),
    ]);
    return [...used];
  }

  /** The generic script DHCP hands every iPXE client: it chains to the node's own by MAC. */
  entryScript(): Rendered {
    return this.render('boot.ipxe', { server: { ...this.endpoint, base: baseUrl(this.endpoint) } });
  }

  /** The loader's per-node config: iPXE script, pxelinux config or GRUB config. */
  loaderConfig(kind: LoaderKind, ctx: TemplateContext): Rendered {
    return this.render(kind, ctx);
  }

  /** The installer file `file` for this node, or null when its installer has no such file. */
  installerFile(file: InstallerFile, ctx: TemplateContext): Rendered | null {
    const profile = ctx.profile;
    if (!profile) return null;
    const kind = INSTALLERS[profile.installer];
    const family = profile.template ?? kind.family;
    if (!kind.files.includes(file) || !family) return null;
    // Family-specific file first (ubuntu-autoinstall.meta-data), then the generic one (meta-data).
    const specific = `${family}.${file}`;
    if (this.templates.has(specific)) return this.render(specific, ctx);
    if (this.templates.has(file)) return this.render(file, ctx);
    // The installer's main file must exist: rendering reports the missing template by name.
    return file === kind.main ? this.render(specific, ctx) : null;
  }

  private render(name: string, ctx: object): Rendered {
    return { template: name, content: this.templates.render(name, ctx) };
  }
}
