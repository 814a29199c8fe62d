// A stand-in for kube-apiserver that speaks the real API's JSON for the few
// calls rackjoin makes (no Kubernetes API server can run on this machine):
// Nodes (list, watch, merge-patch, delete), Pods (list by spec.nodeName),
// policy/v1 Evictions with PodDisruptionBudget refusals (429, as the real
// apiserver answers), and Secrets in kube-system (create with stringData,
// list by label, delete). Every request is logged for assertions. It serves
// HTTPS with a throwaway self-signed certificate that the kubeconfig trusts
// through certificate-authority-data, as a real cluster's admin.conf does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  authorization: string | undefined;
  body: unknown;
}

type Obj = Record<string, any>;

export interface FakeApiServer {
  url: string;
  kubeconfig: string;
  requests: FakeRequest[];
  nodes: Map<string, Obj>;
  pods: Map<string, Obj>;
  secrets: Map<string, Obj>;
  /** Pods ("ns/name") whose eviction a PodDisruptionBudget refuses. */
  pdbProtected: Set<string>;
  addNode(name: string, ready: boolean): void;
  setReady(name: string, ready: boolean): void;
  /** A status heartbeat: MODIFIED with nothing but a new resourceVersion. */
  heartbeat(name: string): void;
  addPod(ns: string, name: string, nodeName: string, opts?: { daemonSet?: boolean }): void;
  close(): Promise<void>;
}

const status = (code: number, reason: string, message: string, details?: Obj): Obj => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  ...(details ? { details } : {}),
  code,
});

export async function startFakeApiServer(t: { teardown(fn: () => unknown): void }): Promise<FakeApiServer> {
  let rv = 100;
  const nextRv = () => String(++rv);
  const nodes = new Map<string, Obj>();
  const pods = new Map<string, Obj>();
  const secrets = new Map<string, Obj>();
  const pdbProtected = new Set<string>();
  const requests: FakeRequest[] = [];
  const watchers = new Set<ServerResponse>();

  const notify = (type: 'ADDED' | 'MODIFIED' | 'DELETED', node: Obj) => {
    for (const w of watchers) w.write(`${JSON.stringify({ type, object: node })}\n`);
  };
  const nodeObj = (name: string, ready: boolean): Obj => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `uid-${name}`, resourceVersion: nextRv(), labels: { 'kubernetes.io/hostname': name } },
    spec: {},
    status: {
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: ready ? 'KubeletReady' : 'KubeletNotReady',
          lastHeartbeatTime: new Date().toISOString(),
        },
      ],
    },
  });

  const send = (res: ServerResponse, code: number, body: Obj) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  async function readBody(req: IncomingMessage): Promise<unknown> {
    let text = '';
    for await (const c of req) text += c;
    return text ? JSON.parse(text) : undefined;
  }

  const dir = mkdtempSync(join(tmpdir(), 'rackjoin-kube-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=kube-apiserver',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(certFile);

  const server = createServer({ cert, key: readFileSync(keyFile) }, async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const body = await readBody(req);
    const path = url.pathname;
    requests.push({
      method: req.method!,
      path,
      query,
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
      body,
    });
    if (req.headers.authorization !== 'Bearer fake-cluster-admin')
      return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    let m: RegExpExecArray | null;

    if (req.method === 'GET' && path === '/api/v1/nodes') {
      if (query.watch === 'true') {
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        res.flushHeaders();
        watchers.add(res);
        res.on('close', () => watchers.delete(res));
        return;
      }
      return send(res, 200, {
        kind: 'NodeList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(rv) },
        items: [...nodes.values()],
      });
    }
    if ((m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path))) {
      const node = nodes.get(m[1]!);
      if (!node)
        return send(res, 404, status(404, 'NotFound', `nodes "${m[1]}" not found`, { name: m[1], kind: 'nodes' }));
      if (req.method === 'PATCH') {
        if (req.headers['content-type'] !== 'application/merge-patch+json')
          return send(res, 415, status(415, 'UnsupportedMediaType', 'unsupported patch type'));
        const spec = (body as Obj).spec ?? {};
        node.spec = { ...node.spec, ...spec };
        node.metadata.resourceVersion = nextRv();
        notify('MODIFIED', node);
        return send(res, 200, node);
      }
      if (req.method === 'DELETE') {
        nodes.delete(m[1]!);
        notify('DELETED', node);
        return send(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name: m[1], kind: 'nodes', uid: node.metadata.uid },
        });
      }
    }
    if (req.method === 'GET' && path === '/api/v1/pods') {
      const want = /^spec\.nodeName=(.+)$/.exec(query.fieldSelector ?? '')?.[1];
      const items = [...pods.values()].filter((p) => !want || p.spec.nodeName === want);
      return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
    }
    if (req.method === 'POST' && (m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/eviction$/.exec(path))) {
      const key = `${m[1]}/${m[2]}`;
      if (!pods.has(key)) return send(res, 404, status(404, 'NotFound', `pods "${m[2]}" not found`));
      if (pdbProtected.has(key)) {
        return send(
          res,
          429,
          status(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
            causes: [
              {
                reason: 'DisruptionBudget',
                message: 'The disruption budget db-pdb needs 1 healthy pods and has 1 currently',
              },
            ],
          }),
        );
      }
      pods.delete(key);
      return send(res, 201, { kind: 'Eviction', apiVersion: 'policy/v1', metadata: { name: m[2], namespace: m[1] } });
    }
    if ((m = /^\/api\/v1\/namespaces\/kube-system\/secrets(?:\/([^/]+))?$/.exec(path))) {
      const name = m[1];
      if (req.method === 'POST' && !name) {
        const s = body as Obj;
        if (secrets.has(s.metadata.name))
          return send(res, 409, status(409, 'AlreadyExists', `secrets "${s.metadata.name}" already exists`));
        // The apiserver folds stringData into base64 data and never returns stringData.
        const data: Record<string, string> = { ...(s.data ?? {}) };
        for (const [k, v] of Object.entries(s.stringData ?? {})) data[k] = Buffer.from(String(v)).toString('base64');
        const stored = {
          apiVersion: 'v1',
          kind: 'Secret',
          type: s.type,
          metadata: { ...s.metadata, uid: `uid-${s.metadata.name}`, resourceVersion: nextRv() },
          data,
        };
        secrets.set(s.metadata.name, stored);
        return send(res, 201, stored);
      }
      if (req.method === 'GET' && !name) {
        const [lk, lv] = (query.labelSelector ?? '').split('=');
        const type = /^type=(.+)$/.exec(query.fieldSelector ?? '')?.[1];
        const items = [...secrets.values()].filter(
          (s) => (!lk || s.metadata.labels?.[lk] === lv) && (!type || s.type === type),
        );
        return send(res, 200, {
          kind: 'SecretList',
          apiVersion: 'v1',
          metadata: { resourceVersion: String(rv) },
          items,
        });
      }
      if (req.method === 'DELETE' && name) {
        if (!secrets.delete(name)) return send(res, 404, status(404, 'NotFound', `secrets "${name}" not found`));
        return send(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, kind: 'secrets' },
        });
      }
    }
    send(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${req.method} ${path})`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;

  const kubeconfig = join(dir, 'admin.conf');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: fake\n  cluster:\n    server: ${url}\n    certificate-authority-data: ${cert.toString('base64')}`,
      'users:',
      '- name: admin\n  user:\n    token: fake-cluster-admin',
      'contexts:',
      '- name: fake\n  context:\n    cluster: fake\n    user: admin',
      'current-context: fake',
      '',
    ].join('\n'),
  );

  const api: FakeApiServer = {
    url,
    kubeconfig,
    requests,
    nodes,
    pods,
    secrets,
    pdbProtected,
    addNode(name, ready) {
      const n = nodeObj(name, ready);
      nodes.set(name, n);
      notify('ADDED', n);
    },
    setReady(name, ready) {
      const n = nodes.get(name)!;
      n.status.conditions[0] = nodeObj(name, ready).status.conditions[0];
      n.metadata.resourceVersion = nextRv();
      notify('MODIFIED', n);
    },
    heartbeat(name) {
      const n = nodes.get(name)!;
      n.metadata.resourceVersion = nextRv();
      notify('MODIFIED', n);
    },
    addPod(ns, name, nodeName, opts = {}) {
      pods.set(`${ns}/${name}`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          namespace: ns,
          uid: `uid-${name}`,
          ...(opts.daemonSet
            ? {
                ownerReferences: [
                  { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ds', uid: 'ds-uid', controller: true },
                ],
              }
            : {}),
        },
        spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
        status: { phase: 'Running' },
      });
    },
    async close() {
      for (const w of watchers) w.end();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  t.teardown(() => api.close());
  return api;
}
