// The few Kubernetes API calls rackjoin makes, with @kubernetes/client-node:
// watch Nodes (Ready), cordon and drain (Eviction API, so PodDisruptionBudgets
// hold), delete a Node, and create/revoke kubeadm bootstrap-token Secrets.
import { randomInt } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import type { CoreV1Api, KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';
import { ConfigError } from '../config.js';
import type { Logger } from '../log.js';

// @kubernetes/client-node is loaded on first use: it costs every CLI command half a
// second of start-up, and most daemons run without a kubeconfig.
type K8s = typeof import('@kubernetes/client-node');
let k8sModule: Promise<K8s> | undefined;
const loadK8s = () => (k8sModule ??= import('@kubernetes/client-node'));

const TOKEN_NAMESPACE = 'kube-system';
/** Label on the Secrets we mint, so revocation finds them after a daemon restart too. */
export const NODE_LABEL = 'rackjoin.io/node';
/** The group kubeadm's RBAC grants node bootstrap to (kubeadm's default token group). */
const BOOTSTRAP_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface DrainOptions {
  timeoutMs: number;
  /** How long to wait between eviction rounds (PDB refusals, pods terminating). */
  retryMs?: number;
}

export interface DrainResult {
  /** false when there is no Node of that name (never joined, or already deleted). */
  found: boolean;
  evicted: string[];
  /** Pods still on the node at the deadline, with the API's last word on each. */
  remaining: { pod: string; reason: string }[];
}

export interface BootstrapToken {
  /** `<id>.<secret>`, the form kubeadm join takes. */
  token: string;
  id: string;
  expiresAt: number;
}

/** What the rest of the daemon needs from Kubernetes; tests substitute it. */
export interface KubeOps {
  drainNode(name: string, opts: DrainOptions): Promise<DrainResult>;
  /** false when there was no such Node. */
  deleteNode(name: string): Promise<boolean>;
  createBootstrapToken(nodeName: string, ttlMinutes: number, now?: number): Promise<BootstrapToken>;
  /** Deletes every token Secret minted for this node; returns how many. */
  revokeBootstrapTokens(nodeName: string): Promise<number>;
  /** Calls onReady each time a Node's Ready condition turns True (and for Ready Nodes at start). */
  watchNodeReady(onReady: (name: string) => void): Promise<() => Promise<void>>;
}

export class KubeError extends Error {}

/** The client's ApiException, recognised by shape so this module need not load the client to check. */
function apiStatus(err: unknown): { code: number; body: unknown } | undefined {
  const e = err as { code?: unknown; body?: unknown } | null;
  return e && typeof e.code === 'number' && 'body' in e ? { code: e.code, body: e.body } : undefined;
}

/** One line for an API failure: status and the apiserver's message, never the request. */
export function describeKubeError(err: unknown): string {
  const api = apiStatus(err);
  if (api) {
    const body = typeof api.body === 'string' ? safeParse(api.body) : api.body;
    const msg = (body as { message?: string } | undefined)?.message;
    return `HTTP ${api.code}${msg ? `: ${msg}` : ''}`;
  }
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code ?? e.message ?? String(err);
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return { message: s.slice(0, 200) };
  }
}

const statusOf = (err: unknown) => apiStatus(err)?.code;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function randomString(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  return s;
}

/** Pods a drain leaves alone, as kubectl drain does: DaemonSet pods, static (mirror) pods, finished pods. */
function evictable(pod: V1Pod): boolean {
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return false;
  if (pod.metadata?.annotations?.['kubernetes.io/config.mirror']) return false;
  return !(pod.metadata?.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet');
}

const podName = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;

export function isReady(node: V1Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

interface Session {
  k8s: K8s;
  kc: KubeConfig;
  api: CoreV1Api;
}

export class KubeClient implements KubeOps {
  private session: Promise<Session> | undefined;

  private constructor(
    private readonly path: string,
    private readonly log: Logger,
  ) {}

  /** Checks the file now (a missing kubeconfig stops the start); parses it on first use. */
  static fromFile(path: string, log: Logger): KubeClient {
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      throw new ConfigError(path, `kubernetes.kubeconfig: ${(err as Error).message}`);
    }
    return new KubeClient(path, log);
  }

  private connect(): Promise<Session> {
    this.session ??= loadK8s().then((k8s) => {
      const kc = new k8s.KubeConfig();
      try {
        kc.loadFromFile(this.path);
      } catch (err) {
        throw new ConfigError(this.path, `kubernetes.kubeconfig: ${(err as Error).message}`);
      }
      if (!kc.getCurrentCluster()) throw new ConfigError(this.path, 'kubernetes.kubeconfig: no current cluster');
      return { k8s, kc, api: kc.makeApiClient(k8s.CoreV1Api) };
    });
    return this.session;
  }

  async drainNode(name: string, opts: DrainOptions): Promise<DrainResult> {
    const { k8s, api } = await this.connect();
    const deadline = Date.now() + opts.timeoutMs;
    const retryMs = opts.retryMs ?? 5000;
    try {
      await api.patchNode(
        { name, body: { spec: { unschedulable: true } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    } catch (err) {
      if (statusOf(err) === 404) return { found: false, evicted: [], remaining: [] };
      throw new KubeError(`cordon Node ${name}: ${describeKubeError(err)}`);
    }
    const evicted: string[] = [];
    const lastWord = new Map<string, string>();
    for (;;) {
      let pods: V1Pod[];
      try {
        pods = (await api.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${name}` })).items.filter(evictable);
      } catch (err) {
        throw new KubeError(`list pods on Node ${name}: ${describeKubeError(err)}`);
      }
      if (pods.length === 0) return { found: true, evicted, remaining: [] };
      for (const pod of pods) {
        const id = podName(pod);
        if (evicted.includes(id)) {
          lastWord.set(id, 'evicted, still terminating');
          continue;
        }
        try {
          await api.createNamespacedPodEviction({
            name: pod.metadata!.name!,
            namespace: pod.metadata!.namespace!,
            body: {
              apiVersion: 'policy/v1',
              kind: 'Eviction',
              metadata: { name: pod.metadata!.name!, namespace: pod.metadata!.namespace! },
            },
          });
          evicted.push(id);
          lastWord.set(id, 'evicted, still terminating');
        } catch (err) {
          const code = statusOf(err);
          if (code === 404) continue; // gone already
          // 429: a PodDisruptionBudget forbids it now; retried until the deadline, as kubectl drain does.
          lastWord.set(id, describeKubeError(err));
          if (code !== 429) this.log.warn({ pod: id, error: describeKubeError(err) }, 'kube: eviction failed');
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        return {
          found: true,
          evicted,
          remaining: pods.map((p) => ({ pod: podName(p), reason: lastWord.get(podName(p)) ?? 'not evicted' })),
        };
      }
      await sleep(Math.min(retryMs, left));
    }
  }

  async deleteNode(name: string): Promise<boolean> {
    const { api } = await this.connect();
    try {
      await api.deleteNode({ name });
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw new KubeError(`delete Node ${name}: ${describeKubeError(err)}`);
    }
  }

  async createBootstrapToken(nodeName: string, ttlMinutes: number, now = Date.now()): Promise<BootstrapToken> {
    const { api } = await this.connect();
    const id = randomString(6);
    const secret = randomString(16);
    const expiresAt = now + ttlMinutes * 60_000;
    try {
      await api.createNamespacedSecret({
        namespace: TOKEN_NAMESPACE,
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: `bootstrap-token-${id}`, namespace: TOKEN_NAMESPACE, labels: { [NODE_LABEL]: nodeName } },
          type: 'bootstrap.kubernetes.io/token',
          stringData: {
            description: `rackjoin: kubeadm join of ${nodeName}`,
            'token-id': id,
            'token-secret': secret,
            expiration: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
            'usage-bootstrap-authentication': 'true',
            'usage-bootstrap-signing': 'true',
            'auth-extra-groups': BOOTSTRAP_GROUP,
          },
        },
      });
    } catch (err) {
      throw new KubeError(`create bootstrap token for ${nodeName}: ${describeKubeError(err)}`);
    }
    return { token: `${id}.${secret}`, id, expiresAt };
  }

  async revokeBootstrapTokens(nodeName: string): Promise<number> {
    const { api } = await this.connect();
    try {
      const list = await api.listNamespacedSecret({
        namespace: TOKEN_NAMESPACE,
        labelSelector: `${NODE_LABEL}=${nodeName}`,
        fieldSelector: 'type=bootstrap.kubernetes.io/token',
      });
      let n = 0;
      for (const s of list.items) {
        try {
          await api.deleteNamespacedSecret({ name: s.metadata!.name!, namespace: TOKEN_NAMESPACE });
          n++;
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
        }
      }
      return n;
    } catch (err) {
      throw new KubeError(`revoke bootstrap tokens of ${nodeName}: ${describeKubeError(err)}`);
    }
  }

  async watchNodeReady(onReady: (name: string) => void): Promise<() => Promise<void>> {
    const { k8s, kc, api } = await this.connect();
    const informer = k8s.makeInformer<V1Node>(kc, '/api/v1/nodes', () => api.listNode());
    // Ready turning True is the news; status heartbeats of a Ready node are not.
    const ready = new Set<string>();
    const seen = (node: V1Node) => {
      const name = node.metadata?.name;
      if (!name) return;
      if (!isReady(node)) ready.delete(name);
      else if (!ready.has(name)) {
        ready.add(name);
        onReady(name);
      }
    };
    informer.on('add', seen);
    informer.on('update', seen);
    informer.on('delete', (node) => ready.delete(node.metadata?.name ?? ''));
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    // The informer stops on an error (apiserver restart, expired credentials); start it again, slowly.
    informer.on('error', (err) => {
      if (stopped) return;
      this.log.warn({ error: describeKubeError(err) }, 'kube: Node watch failed; retrying in 5 s');
      retry = setTimeout(() => void informer.start().catch(() => undefined), 5000);
      retry.unref();
    });
    await informer.start();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      await informer.stop();
    };
  }
}
