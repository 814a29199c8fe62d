// What the daemon does in the cluster as nodes move (with a kubeconfig only):
// a Node that turns Ready is evidence for the lifecycle; an install starting
// deletes the stale Node object of that name (the machine is wiping its disk, and
// the rejoined node registers afresh, so no uncordon is needed); a join or a
// reimage revokes the node's bootstrap tokens.
import type { EventLog } from '../events.js';
import type { NodeStore } from '../inventory/store.js';
import { describeKubeError, type KubeOps } from '../kube/client.js';
import type { JoinTokens } from '../kube/joinTokens.js';
import type { Logger } from '../log.js';
import type { Lifecycle, Transition } from './lifecycle.js';

export interface ClusterDeps {
  kube: KubeOps;
  lifecycle: Lifecycle;
  nodes: NodeStore;
  events: EventLog;
  joinTokens: JoinTokens;
  log: Logger;
}

export async function followCluster(deps: ClusterDeps): Promise<() => Promise<void>> {
  const { kube, lifecycle, nodes, events, joinTokens, log } = deps;

  const onTransition = (t: Transition) => {
    if (t.to === 'installing') {
      kube.deleteNode(t.node).then(
        (deleted) =>
          deleted &&
          events.record(t.nodeId, 'kube.node-deleted', 'kubernetes', { kubeNode: t.node, why: 'install started' }),
        (err) => {
          events.record(t.nodeId, 'kube.error', 'kubernetes', { action: 'delete Node', error: describeKubeError(err) });
          log.warn({ node: t.node, error: describeKubeError(err) }, 'kube: could not delete the stale Node');
        },
      );
    }
    if (t.to === 'joined' || t.to === 'registered') {
      joinTokens.revoke({ id: t.nodeId, name: t.node }).then(
        (n) =>
          n > 0 &&
          events.record(t.nodeId, 'kube.token-revoked', 'kubernetes', {
            count: n,
            why: t.to === 'joined' ? 'joined' : 'reimage',
          }),
        (err) =>
          log.warn(
            { node: t.node, error: describeKubeError(err) },
            'kube: could not revoke bootstrap tokens (they expire on their own)',
          ),
      );
    }
  };
  lifecycle.on('transition', onTransition);

  const stopWatch = await kube.watchNodeReady((name) => {
    const node = nodes.get(name);
    if (node && node.source !== 'discovered') lifecycle.observe(node, { kind: 'node-ready', kubeNode: name });
  });

  return async () => {
    lifecycle.off('transition', onTransition);
    await stopWatch();
  };
}
