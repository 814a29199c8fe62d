// bootPlane: what a machine gets when it asks for its boot config or installer
// file, by MAC (loaders) or by its token (installer). Shared by the HTTP routes,
// the TFTP server's rendered files and the explain dry-run.
import type { AppContext } from '../context.js';
import type { Profile } from '../inventory/schema.js';
import type { Node } from '../inventory/store.js';
import { normalizeMac } from '../mac.js';
import type { FirmwareArch, RenderSecrets, ServerAddress, TemplateContext } from './context.js';
import { BootRenderer, type InstallerFile, type LoaderKind, type Rendered } from './render.js';
import { TemplateStore } from './templates.js';
import { ClientDirectory, fileRole } from './clients.js';

/** Where a node is in its install: the installer files (and the join token) exist only while provisioning. */
const PROVISIONING = new Set<Node['state']>(['registered', 'pxe', 'booting', 'installing']);

export type LoaderAnswer = ({ kind: 'config' } & Rendered) | { kind: 'not-found'; reason: string };

export interface BootPlaneOptions {
  /** Where nodes reach us; read per request because the HTTP port is known only after listen. */
  server: () => ServerAddress;
  /** The kubeadm join token to render for a provisioning node (static, or minted per node). */
  joinTokenFor?: (node: Node) => Promise<string | null>;
}

export class BootPlane {
  readonly templates: TemplateStore;
  readonly renderer: BootRenderer;
  readonly clients: ClientDirectory;
  private readonly joinTokenFor: (node: Node) => Promise<string | null>;

  constructor(
    private readonly ctx: AppContext,
    opts: BootPlaneOptions,
  ) {
    this.templates = new TemplateStore(ctx.config.templates);
    this.renderer = new BootRenderer(ctx.config, this.templates, opts.server);
    this.clients = new ClientDirectory(ctx.db, ctx.nodes);
    // ctx.joinTokens is built after the boot plane; it is read per render.
    this.joinTokenFor = opts.joinTokenFor ?? ((node) => ctx.joinTokens.joinTokenFor(node));
  }

  /**
   * A file went out over TFTP or HTTP: put it on the node's timeline (the lifecycle
   * decides whether it moves the node). `node` when the request named it (by MAC);
   * otherwise the client address says who it was. Unattributed files are only counted.
   */
  fileServed(f: {
    via: 'tftp' | 'http';
    file: string;
    bytes: number;
    durationMs: number;
    client: string;
    node?: Node | undefined;
  }): void {
    const node = f.node ?? this.clients.nodeFor(f.client);
    if (!node) return;
    if (f.node) this.clients.remember(f.client, node.id);
    const profile = node.profile ? (this.ctx.nodes.getProfile(node.profile) ?? null) : null;
    this.ctx.lifecycle.observe(node, {
      kind: 'file-served',
      via: f.via,
      role: fileRole(profile, f.file),
      file: f.file,
      bytes: f.bytes,
      durationMs: Math.round(f.durationMs),
      client: f.client,
    });
  }

  /** The node behind a MAC; an unknown MAC is recorded as discovered (never installed). */
  nodeForMac(mac: string): { node: Node; profile: Profile | null } {
    const node = this.ctx.nodes.findByMac(mac) ?? this.ctx.nodes.recordDiscovered(mac);
    return { node, profile: node.profile ? (this.ctx.nodes.getProfile(node.profile) ?? null) : null };
  }

  /** Template context for loader configs: URLs carry the node token, the join token stays out. */
  loaderContext(
    node: Node,
    profile: Profile | null,
    mac: string,
    arch: FirmwareArch,
    secrets?: RenderSecrets,
  ): TemplateContext {
    return this.renderer.context(
      node,
      profile,
      mac,
      arch,
      secrets ?? { nodeToken: this.ctx.nodes.tokenOf(node.id), joinToken: null },
    );
  }

  /** A loader's per-node config. An installed node whose local-boot method is http-404 gets a 404. */
  loaderConfig(kind: LoaderKind, rawMac: string, arch: FirmwareArch): LoaderAnswer & { node?: Node } {
    const mac = normalizeMac(rawMac);
    if (!mac) return { kind: 'not-found', reason: `"${rawMac}" is not a MAC address` };
    const { node, profile } = this.nodeForMac(mac);
    const ctx = this.loaderContext(node, profile, mac, arch);
    if (!ctx.boot.install && ctx.boot.localBoot === 'http-404') {
      return { kind: 'not-found', reason: `${node.name} boots from disk (localBoot http-404)`, node };
    }
    return { kind: 'config', ...this.renderer.loaderConfig(kind, ctx), node };
  }

  /** An installer file for the node holding `token`; null when the token, the file or the timing is wrong. */
  async installerFile(
    token: string,
    file: InstallerFile,
  ): Promise<{ node: Node; rendered: Rendered } | { node: Node | null; refused: string }> {
    const node = this.ctx.nodes.findByToken(token);
    if (!node) return { node: null, refused: 'unknown token' };
    if (!node.netboot || !PROVISIONING.has(node.state))
      return { node, refused: `${node.name} is ${node.state}, not provisioning` };
    const profile = node.profile ? (this.ctx.nodes.getProfile(node.profile) ?? null) : null;
    const joinToken = await this.joinTokenFor(node);
    // Installer files do not depend on the firmware; the first MAC stands for the node.
    const ctx = this.renderer.context(node, profile, node.macs[0]!, 'bios', { nodeToken: token, joinToken });
    const rendered = this.renderer.installerFile(file, ctx);
    return rendered ? { node, rendered } : { node, refused: `profile ${profile?.name ?? '(none)'} has no ${file}` };
  }

  /**
   * Files the TFTP server renders instead of reading from assets/: pxelinux.cfg/01-<mac>,
   * GRUB's grub.cfg-01-<mac>, and iPXE's autoexec.ipxe. Anything else: null (static file).
   */
  tftpFile(path: string): { content: Buffer; node?: Node; template: string } | null {
    const name = path.replace(/^\/+/, '');
    const pxelinux = /^pxelinux\.cfg\/(.+)$/.exec(name);
    if (pxelinux) {
      const per = /^01-([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})$/.exec(pxelinux[1]!);
      // pxelinux also probes UUID and hex-IP names first and `default` last: those are not
      // per-node, so they fall through to assets/ (an operator may supply a default there).
      if (!per) return null;
      return this.tftpLoaderConfig('pxelinux', per[1]!, 'bios');
    }
    const grub = /(?:^|\/)grub\.cfg-01-([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})$/.exec(name);
    if (grub) return this.tftpLoaderConfig('grub', grub[1]!, 'uefi');
    if (name === 'autoexec.ipxe') {
      const r = this.renderer.entryScript();
      return { content: Buffer.from(r.content), template: r.template };
    }
    return null;
  }

  private tftpLoaderConfig(kind: LoaderKind, mac: string, arch: FirmwareArch) {
    const answer = this.loaderConfig(kind, mac, arch);
    if (answer.kind !== 'config') return null;
    return {
      content: Buffer.from(answer.content),
      template: answer.template,
      ...(answer.node ? { node: answer.node } : {}),
    };
  }
}
