// bootPlane: what a machine gets when it asks for a boot file, by MAC (loader
// configs), by its token (installer files) or by its address (assets), and the
// record of each file served. Every answer is the boot decision's (decide.ts),
// rendered by the renderer; explain renders through the same methods with
// masked secrets, so it shows exactly what the live paths serve.
import type { InstalledBoot } from '../config.js';
import type { NodeStore, Node } from '../inventory/store.js';
import type { Profile } from '../inventory/schema.js';
import type { Lifecycle } from '../lifecycle/lifecycle.js';
import type { Failure, FileRole } from '../lifecycle/machine.js';
import type { ClientDirectory } from './clients.js';
import type { RenderSecrets, TemplateContext } from './context.js';
import { bootPlan, type BootPlan, type BootSettings, type NodeSubject, type Subject } from './decide.js';
import { familyOf, LOADER_CONFIG_FIRMWARE, NAMED_FIRMWARE, type Fingerprint } from './firmware.js';
import type { InstallerFile } from './installers.js';
import { variablesOf, type VariableView } from './installerVars.js';
import type { BootRenderer, LoaderKind, Rendered } from './render.js';
import { TemplateError } from './templates.js';
import { baseUrl, tftpConfigName, type Endpoint } from './urls.js';

/**
 * A boot file's answer: rendered content, or why nothing is served. `error`: the
 * template failed to render (the operator's to fix; the live paths put it on the
 * node's timeline, explain shows it).
 */
export type BootAnswer =
  { ok: true; rendered: Rendered; reason: string } | { ok: false; reason: string; error?: TemplateError };

/** Render, turning a template error into the answer that says so. */
function rendering(render: () => Rendered | null, reason: string, missing = 'no template'): BootAnswer {
  try {
    const rendered = render();
    return rendered ? { ok: true, rendered, reason } : { ok: false, reason: missing };
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    return { ok: false, reason: err.message, error: err };
  }
}

export interface BootPlaneDeps {
  nodes: NodeStore;
  lifecycle: Pick<Lifecycle, 'observe'>;
  clients: ClientDirectory;
  renderer: BootRenderer;
  endpoint: Endpoint;
  installedBoot: InstalledBoot;
  /** The kubeadm join token for a node being installed (static, or minted per node). */
  joinTokenFor: (node: Node) => Promise<string | null>;
}

/** A file that went out over TFTP or HTTP. `node` and `role` when the handler knows them. */
export interface ServedFile {
  via: 'tftp' | 'http';
  file: string;
  bytes: number;
  durationMs: number;
  client: string;
  node?: Node | undefined;
  role?: FileRole | undefined;
  /** The path under assets/ the file came from, when it is not `file` itself (HTTP's /assets/<path>). */
  asset?: string | undefined;
}

export class BootPlane {
  /**
   * One failure event per node and kind per window: a boot ROM retrying in a loop,
   * or a stranger spraying requests with new names from a node's address, must not
   * push the node's real timeline out.
   */
  private readonly repeats = new RepeatWindow(10_000, 10_000);

  /** The settings plans are made with, rebuilt when the endpoint moves (HTTP bound its port). */
  private settings: { of: Pick<Endpoint, 'advertise' | 'httpPort'>; is: BootSettings } | null = null;

  constructor(private readonly deps: BootPlaneDeps) {}

  /** The boot decision for `subject`, with the daemon's settings. */
  plan(subject: Subject): BootPlan {
    const { endpoint, installedBoot } = this.deps;
    const s = this.settings;
    if (!s || s.of.advertise !== endpoint.advertise || s.of.httpPort !== endpoint.httpPort) {
      const of = { advertise: endpoint.advertise, httpPort: endpoint.httpPort };
      this.settings = { of, is: { base: baseUrl(of), installedBoot } };
    }
    return bootPlan(subject, this.settings!.is);
  }

  /** The machine behind `node`. */
  subjectOf(node: Node, mac = node.macs[0]!): NodeSubject {
    return { mac, node, profile: this.deps.nodes.profileOf(node) };
  }

  /** The machine behind `mac` as the database has it (`node` null or undefined: none); records nothing. */
  subjectFor(mac: string, node: Node | null | undefined): Subject {
    return node ? this.subjectOf(node, mac) : { mac, node: null, profile: null };
  }

  /** The machine behind a MAC; an unknown MAC that asks for a boot file is recorded as discovered. */
  machine(mac: string): NodeSubject {
    return this.subjectOf(this.deps.nodes.findByMac(mac) ?? this.deps.nodes.recordDiscovered(mac), mac);
  }

  /** The generic script DHCP hands every iPXE client. */
  /** The installer variables the profile's templates use, with this node's values (explain). */
  variables(node: Node, profile: Profile): VariableView[] {
    return variablesOf(this.deps.renderer.variablesUsed(profile), profile, node);
  }

  entryScript(): Rendered {
    return this.deps.renderer.entryScript();
  }

  /** The node's live secrets for loader configs: its token; never the join token. */
  loaderSecrets(node: Node): RenderSecrets {
    return { nodeToken: this.deps.nodes.tokenOf(node.id), joinToken: null };
  }

  /** The template context `subject` renders with on firmware `fw`. */
  context(subject: NodeSubject, fw: Fingerprint, secrets: RenderSecrets): TemplateContext {
    return this.deps.renderer.context(subject.node, subject.profile, subject.mac, familyOf(fw), secrets);
  }

  /** A loader's per-node config as `firmware` gets it. HTTP, TFTP and explain all come here. */
  loaderConfig(subject: NodeSubject, kind: LoaderKind, fw: Fingerprint, s: RenderSecrets): BootAnswer {
    const answer = this.plan(subject).loaderConfig();
    if (!answer.serve) return { ok: false, reason: answer.reason };
    return rendering(() => this.deps.renderer.loaderConfig(kind, this.context(subject, fw, s)), answer.reason);
  }

  /** An installer file for `subject`, rendered with `secrets`. The live route and explain both come here. */
  installerFile(subject: NodeSubject, file: string, secrets: RenderSecrets): BootAnswer {
    const answer = this.plan(subject).installerFile(file);
    if (!answer.serve) return { ok: false, reason: answer.reason };
    // Installer files do not depend on the firmware.
    const render = () =>
      this.deps.renderer.installerFile(answer.file, this.context(subject, NAMED_FIRMWARE.bios, secrets));
    return rendering(render, answer.reason, `no template for ${file}`);
  }

  /** The installer file `file` for the node holding `token` (the node-facing route). */
  async installerFileFor(token: string, file: InstallerFile): Promise<BootAnswer & { node: Node | null }> {
    const node = this.deps.nodes.findByToken(token) ?? null;
    if (!node) return { ok: false, reason: 'unknown token', node };
    const subject = this.subjectOf(node);
    const answer = this.plan(subject).installerFile(file);
    if (!answer.serve) return { ok: false, reason: answer.reason, node };
    const joinToken = await this.deps.joinTokenFor(node);
    return { ...this.installerFile(subject, file, { nodeToken: token, joinToken }), node };
  }

  /**
   * Files the TFTP server renders instead of reading assets/: pxelinux.cfg/01-<mac>,
   * GRUB's grub.cfg-01-<mac>, and iPXE's autoexec.ipxe. Anything else (and a config
   * the decision refuses): null, so the name falls through to assets/.
   */
  tftpFile(path: string, client: string): { content: Buffer; node?: Node; template: string } | null {
    const name = tftpConfigName(path);
    if (!name) return null;
    if (name.mac === null) {
      const entry = this.entryScript();
      const node = this.deps.clients.nodeFor(client);
      return { content: Buffer.from(entry.content), template: entry.template, ...(node ? { node } : {}) };
    }
    const subject = this.machine(name.mac);
    const fw = LOADER_CONFIG_FIRMWARE[name.loader];
    const answer = this.loaderConfig(subject, name.loader, fw, this.loaderSecrets(subject.node));
    if (!answer.ok) {
      if (answer.error) this.renderFailed(subject.node, 'tftp', path, answer.error, client);
      return null;
    }
    const { content, template } = answer.rendered;
    return { content: Buffer.from(content), template, node: subject.node };
  }

  /** A boot or installer file `node` asked for failed to render: on its timeline, with template and line. */
  renderFailed(node: Node, via: Failure['via'], file: string, err: TemplateError, client: string): void {
    const template = { name: err.template, line: err.line };
    this.failed({ what: 'render', via, file, detail: err.message, template }, client, node);
  }

  /**
   * Something went wrong serving a file: on the timeline of `node`, or of whoever
   * the client address says it is. Unattributed failures are only logged by the caller.
   */
  failed(failure: Failure, client: string, node?: Node): void {
    const who = node ?? this.deps.clients.nodeFor(client);
    if (who && this.repeats.first(`${who.id} ${failure.what}`))
      this.deps.lifecycle.observe(who, { kind: 'failure', failure, client });
  }

  /** A request with a node token nobody holds, on the timeline of the node at that address (the token is not kept). */
  tokenRefused(what: string, client: string): void {
    const detail = 'refused: no node holds this token (a config rendered before a reimage?)';
    this.failed({ what: 'token', via: 'http', file: what, detail }, client);
  }

  /**
   * A file went out: put it on the node's timeline (the lifecycle decides whether it
   * moves the node). Without `node` the client address says who it was, and the
   * boot decision says what the file is to that node. Unattributed files are not recorded.
   */
  served(f: ServedFile): void {
    const node = f.node ?? this.deps.clients.nodeFor(f.client);
    if (!node) return;
    const role = f.role ?? this.plan(this.subjectOf(node)).roleOf(f.asset ?? f.file);
    const { via, file, bytes, client } = f;
    this.deps.lifecycle.observe(node, {
      kind: 'file-served',
      via,
      role,
      file,
      bytes,
      durationMs: Math.round(f.durationMs),
      client,
    });
  }
}

/** Which keys were seen within the last `windowMs`; bounded to `max` keys, oldest dropped first. */
class RepeatWindow {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  /** True the first time `key` is seen in a window. */
  first(key: string, now = Date.now()): boolean {
    const at = this.seen.get(key);
    if (at !== undefined && now - at < this.windowMs) return false;
    this.seen.delete(key);
    this.seen.set(key, now);
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value!);
    return true;
  }
}
