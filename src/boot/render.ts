// bootRenderer: which template a node gets at each stage, rendered against its context.
import type { Config } from '../config.js';
import type { Profile } from '../inventory/schema.js';
import type { Node } from '../inventory/store.js';
import {
  templateContext,
  type FirmwareArch,
  type RenderSecrets,
  type ServerAddress,
  type TemplateContext,
} from './context.js';
import type { TemplateStore } from './templates.js';

export type LoaderKind = Profile['loader'];
export type InstallerFile = 'user-data' | 'meta-data' | 'network-config' | 'vendor-data' | 'kickstart' | 'preseed';

/** Which installer files each installer answers, and the template suffix for each. */
const INSTALLER_FILES: Record<Profile['installer'], Partial<Record<InstallerFile, string>>> = {
  'cloud-init': {
    'user-data': 'user-data',
    'meta-data': 'meta-data',
    'network-config': 'network-config',
    'vendor-data': 'vendor-data',
  },
  kickstart: { kickstart: 'kickstart' },
  preseed: { preseed: 'preseed' },
  none: {},
};

const MAIN_FILE = new Set<InstallerFile>(['user-data', 'kickstart', 'preseed']);

/** The built-in template family when a profile names none. */
const DEFAULT_TEMPLATE: Record<Profile['installer'], string | null> = {
  'cloud-init': 'ubuntu-autoinstall',
  kickstart: 'rocky-kickstart',
  preseed: 'debian-preseed',
  none: null,
};

export interface Rendered {
  template: string;
  content: string;
}

export class BootRenderer {
  constructor(
    private readonly config: Config,
    private readonly templates: TemplateStore,
    private readonly server: () => ServerAddress,
  ) {}

  context(
    node: Node,
    profile: Profile | null,
    mac: string,
    arch: FirmwareArch,
    secrets: RenderSecrets,
  ): TemplateContext {
    const ctx = templateContext({ config: this.config, server: this.server(), node, profile, mac, arch, secrets });
    if (profile?.cmdline)
      ctx.cmdline = this.templates.renderString(`profile ${profile.name} cmdline`, profile.cmdline, ctx).trim();
    if (profile && profile.installer !== 'none') ctx.scripts.firstboot = this.templates.render('firstboot', ctx);
    return ctx;
  }

  /** The generic script DHCP hands every iPXE client: it chains to the node's own by MAC. */
  entryScript(): Rendered {
    const server = this.server();
    return this.render('boot.ipxe', { server: { ...server, base: `http://${server.advertise}:${server.httpPort}` } });
  }

  /** The loader's per-node config: iPXE script, pxelinux config or GRUB config. */
  loaderConfig(kind: LoaderKind, ctx: TemplateContext): Rendered {
    return this.render(kind, ctx);
  }

  /** The installer file `file` for this node, or null when its installer has no such file. */
  installerFile(file: InstallerFile, ctx: TemplateContext): Rendered | null {
    const profile = ctx.profile;
    if (!profile) return null;
    const suffix = INSTALLER_FILES[profile.installer][file];
    const family = profile.template ?? DEFAULT_TEMPLATE[profile.installer];
    if (!suffix || !family) return null;
    // Family-specific file first (ubuntu-autoinstall.meta-data), then the generic one (meta-data).
    const specific = `${family}.${suffix}`;
    if (this.templates.has(specific)) return this.render(specific, ctx);
    if (this.templates.has(suffix)) return this.render(suffix, ctx);
    // The installer's main file must exist: rendering reports the missing template by name.
    return MAIN_FILE.has(file) ? this.render(specific, ctx) : null;
  }

  private render(name: string, ctx: object): Rendered {
    return { template: name, content: this.templates.render(name, ctx) };
  }
}
