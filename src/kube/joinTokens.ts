// The kubeadm join token an installer config gets (docs/lifecycle.md):
// with a kubeconfig, one bootstrap token per node, minted when its installer
// config is first rendered, with TTL tokenTtlMinutes, revoked once the node has
// joined or is reimaged; without one, the static kubernetes.joinToken. Either way
// only while the node is provisioning. Minted tokens live in memory only: after
// a daemon restart a node gets a new one, and the label on the Secrets lets
// revocation find the old ones too.
import type { Config } from '../config.js';
import { installsNow, type NodeBootFacts } from '../inventory/states.js';
import type { Node } from '../inventory/store.js';
import type { Logger } from '../log.js';
import type { KubeOps } from './client.js';

export class JoinTokens {
  private readonly minted = new Map<number, { token: string; expiresAt: number }>();
  /** One mint per node at a time, when the installer fetches several files at once. */
  private readonly pending = new Map<number, Promise<string>>();

  constructor(
    private readonly config: Config['kubernetes'],
    private readonly kube: KubeOps | null,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The token to render into `node`'s installer config, or null when the node is
   * not provisioning or none is configured. Call after the lifecycle has observed
   * the config fetch, so the state is current. Throws when minting fails: an
   * installer config without a working token would only fail later, at join.
   */
  async joinTokenFor(node: Pick<Node, 'id' | 'name'> & NodeBootFacts): Promise<string | null> {
    if (!installsNow(node)) return null;
    if (!this.kube) return this.config.joinToken ?? null;
    const have = this.minted.get(node.id);
    // Reused while more than half its life is left, so a retried fetch gets the same token.
    if (have && have.expiresAt - this.now() > (this.config.tokenTtlMinutes * 60_000) / 2) return have.token;
    const inflight = this.pending.get(node.id);
    if (inflight) return inflight;
    const mint = this.kube
      .createBootstrapToken(node.name, this.config.tokenTtlMinutes, this.now())
      .then((t) => {
        this.minted.set(node.id, { token: t.token, expiresAt: t.expiresAt });
        this.log.info(
          { node: node.name, tokenId: t.id, expires: new Date(t.expiresAt).toISOString() },
          'kube: minted bootstrap token',
        );
        return t.token;
      })
      .finally(() => this.pending.delete(node.id));
    this.pending.set(node.id, mint);
    return mint;
  }

  /** After join or at reimage: the node's bootstrap tokens stop working. */
  async revoke(node: Pick<Node, 'id' | 'name'>): Promise<number> {
    this.minted.delete(node.id);
    if (!this.kube) return 0;
    return this.kube.revokeBootstrapTokens(node.name);
  }
}
