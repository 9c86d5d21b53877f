// SPDX-License-Identifier: Apache-2.0
// deploy/k8s (kustomize) and deploy/docker, checked offline (no cluster, no Docker engine here):
// every overlay and the base render with `kubectl kustomize`, every rendered object validates
// against the Kubernetes schemas of kubernetes-models (an unknown apiVersion/kind fails), and the
// rendered objects hang together: gRPC probes on the declared port, resources, non-root, pinned
// images, Services and PDBs that select pods, references to rendered ConfigMaps or to the
// out-of-band Secret kdump-twin-nats, no Secret with data, NetworkPolicies, the worker HPA, the
// controller's campaign document, the NATS configuration (nats-server -t) and the Dockerfiles.
//
// kubectl (with its built-in kustomize) is required: npm has no maintained offline kustomize
// renderer, so without kubectl these tests fail, saying so, rather than pass or skip.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { otlpProtocol, samplingFrom, tracingRequested } from '@kdump-twin/telemetry';
import { parseCampaign } from '@kdump-twin/scenario';

const run = promisify(execFile);
const load = createRequire(__filename);
const root = join(__dirname, '..', '..');
const k8s = join(root, 'deploy', 'k8s');
const SECRET = 'kdump-twin-nats';
const TWINS: Record<string, number> = { 'smmu-twin': 50051, 'dma-fleet': 50052, 'crash-generator': 50053, 'kdump-driver': 50054 };
const WORKER = 'campaign-worker';
const WORKER_HEALTH_PORT = 50060;

/* eslint-disable @typescript-eslint/no-explicit-any -- the manifests' specs are free-form YAML */
type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  stringData?: unknown;
  binaryData?: unknown;
};
type Container = {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: any[];
  envFrom?: any[];
  readinessProbe?: any;
  livenessProbe?: any;
  resources?: any;
  securityContext?: any;
  volumeMounts?: any[];
};
type PodSpec = { containers: Container[]; initContainers?: Container[]; volumes?: any[]; securityContext?: any };
/* eslint-enable @typescript-eslint/no-explicit-any */
type Workload = { obj: Obj; labels: Record<string, string>; pod: PodSpec };

interface Overlay {
  dir: string;
  namespace: string;
  replicas: Record<string, number>;
  hpa: [number, number];
  natsServers: number;
  sampleRatio: number;
  campaignId?: string;
}

const OVERLAYS: Overlay[] = [
  {
    dir: 'base',
    namespace: 'kdump-twin',
    replicas: { 'smmu-twin': 1, 'dma-fleet': 2, 'crash-generator': 2, 'kdump-driver': 2, nats: 1 },
    hpa: [2, 32],
    natsServers: 1,
    sampleRatio: 0.001,
  },
  {
    dir: 'overlays/dev',
    namespace: 'kdump-twin-dev',
    replicas: { 'smmu-twin': 1, 'dma-fleet': 1, 'crash-generator': 1, 'kdump-driver': 1, nats: 1 },
    hpa: [1, 4],
    natsServers: 1,
    sampleRatio: 0.01,
  },
  {
    dir: 'overlays/campaign-large',
    namespace: 'kdump-twin-campaign',
    replicas: { 'smmu-twin': 1, 'dma-fleet': 3, 'crash-generator': 3, 'kdump-driver': 3, nats: 3 },
    hpa: [16, 256],
    natsServers: 3,
    sampleRatio: 0.001,
    campaignId: 'reviewers-large',
  },
];

async function render(dir: string): Promise<string> {
  try {
    return (await run('kubectl', ['kustomize', join(k8s, dir)], { maxBuffer: 64 << 20 })).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      throw new Error(
        'kubectl (with its built-in kustomize, v1.14+) is required to render deploy/k8s and is not on PATH; install kubectl, these tests do not skip without it',
        { cause: e },
      );
    throw new Error(`kubectl kustomize ${dir} failed: ${err.stderr ?? err.message}`, { cause: e });
  }
}

function parse(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => {
      assert.equal(d.errors.length, 0, `YAML errors: ${d.errors.map(String).join('; ')}`);
      return d.toJS() as Obj;
    })
    .filter(Boolean);
}

/** The kubernetes-models class of an object, by apiVersion ("apps/v1" is the module path) and kind. */
function modelOf(o: Pick<Obj, 'apiVersion' | 'kind'>): new (x: unknown) => { validate(): void } {
  let mod: Record<string, unknown>;
  try {
    mod = load(`kubernetes-models/${o.apiVersion}`) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${o.kind}: unknown apiVersion ${o.apiVersion} (no kubernetes-models/${o.apiVersion})`, { cause: e });
  }
  const M = mod[o.kind];
  if (typeof M !== 'function') throw new Error(`unknown kind ${o.apiVersion} ${o.kind}`);
  return M as new (x: unknown) => { validate(): void };
}

const validate = (o: Obj) => new (modelOf(o))(structuredClone(o)).validate();

function workloads(objs: Obj[]): Workload[] {
  return objs
    .filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind))
    .map((o) => ({ obj: o, labels: o.spec.template.metadata?.labels ?? {}, pod: o.spec.template.spec as PodSpec }));
}

const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

const find = (objs: Obj[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);

/** The environment a container sees: its ConfigMaps (envFrom) under its own env values. */
function envOf(objs: Obj[], c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const f of c.envFrom ?? []) if (f.configMapRef) Object.assign(env, find(objs, 'ConfigMap', f.configMapRef.name)?.data ?? {});
  for (const e of c.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
  return env;
}

const rendered = new Map<string, Obj[]>();
before(async () => {
  await Promise.all(OVERLAYS.map(async (o) => rendered.set(o.dir, parse(await render(o.dir)))));
});

for (const ov of OVERLAYS)
  describe(`deploy/k8s/${ov.dir}`, () => {
    const objs = () => rendered.get(ov.dir)!;
    const twinsAndWorkers = () => workloads(objs()).filter((w) => w.obj.metadata.name in TWINS || w.obj.metadata.name === WORKER);

    it('renders, and every object validates against the Kubernetes schema of its apiVersion/kind', () => {
      assert.ok(objs().length > 20, `only ${objs().length} objects rendered`);
      for (const o of objs()) assert.doesNotThrow(() => validate(o), `${o.kind}/${o.metadata?.name}`);
      const kinds = new Set(objs().map((o) => o.kind));
      for (const k of ['Deployment', 'StatefulSet', 'Service', 'ConfigMap', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'NetworkPolicy'])
        assert.ok(kinds.has(k), `no ${k}`);
    });

    it('has every twin, the workers, NATS and Jaeger, with the expected replicas (smmu-twin always 1)', () => {
      for (const name of [...Object.keys(TWINS), WORKER, 'jaeger']) assert.ok(find(objs(), 'Deployment', name), `no Deployment ${name}`);
      for (const [name, n] of Object.entries(ov.replicas)) {
        const o = find(objs(), name === 'nats' ? 'StatefulSet' : 'Deployment', name)!;
        assert.equal(o.spec.replicas, n, `${name} replicas`);
      }
      assert.equal(find(objs(), 'Deployment', 'smmu-twin')!.spec.strategy?.type, 'Recreate', 'smmu-twin must never run two replicas, not even in a rollout');
      assert.equal(find(objs(), 'Deployment', WORKER)!.spec.replicas, undefined, 'the HPA owns the worker replicas');
    });

    it('every object is in its namespace', () => {
      for (const o of objs()) {
        if (o.kind === 'Namespace') assert.equal(o.metadata.name, ov.namespace);
        else assert.equal(o.metadata.namespace, ov.namespace, `${o.kind}/${o.metadata.name}`);
      }
    });

    it('twins and workers: grpc readiness and liveness probes on a declared port that is their GRPC_PORT / --health-port', () => {
      assert.equal(twinsAndWorkers().length, 5);
      for (const w of twinsAndWorkers()) {
        const c = w.pod.containers[0]!;
        const name = w.obj.metadata.name;
        const declared = (c.ports ?? []).map((p) => p.containerPort);
        let port: number;
        if (name === WORKER) {
          const argv = [...(c.command ?? []), ...(c.args ?? [])];
          assert.deepEqual(argv.slice(0, 4), ['node', 'apps/twinctl/bin/twinctl.js', 'campaign', 'worker']);
          port = Number(argv[argv.indexOf('--health-port') + 1]);
          assert.equal(port, WORKER_HEALTH_PORT);
          assert.equal(envOf(objs(), c)['KDUMP_TWIN_SMMU_TWIN'], `smmu-twin:${TWINS['smmu-twin']}`);
        } else {
          port = Number(envOf(objs(), c)['GRPC_PORT']);
          assert.equal(port, TWINS[name], `${name} GRPC_PORT`);
        }
        assert.ok(declared.includes(port), `${name}: port ${port} not declared`);
        for (const probe of ['readinessProbe', 'livenessProbe'] as const) assert.equal(c[probe]?.grpc?.port, port, `${name} ${probe}`);
        const env = envOf(objs(), c);
        assert.equal(env['GRPC_HOST'], '0.0.0.0', `${name} GRPC_HOST`);
        assert.equal(env['NATS_URL'], 'nats://nats:4222', `${name} NATS_URL`);
        assert.ok(
          c.env?.some((e) => e.name === 'SERVICE_ID' && e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') || name === WORKER,
          `${name} SERVICE_ID from the pod name`,
        );
      }
    });

    it('twins and workers: an OTLP configuration the telemetry accepts, pointing at jaeger', () => {
      for (const w of twinsAndWorkers()) {
        const env = envOf(objs(), w.pod.containers[0]!);
        assert.equal(env['OTEL_EXPORTER_OTLP_ENDPOINT'], 'http://jaeger:4318');
        assert.equal(otlpProtocol(env, 'TRACES'), 'http/protobuf');
        assert.equal(tracingRequested(env), true);
        assert.ok(env['OTEL_SERVICE_NAME'], 'OTEL_SERVICE_NAME');
        assert.equal(env['OTEL_TRACES_SAMPLER'], 'traceidratio');
        assert.equal(samplingFrom(env).ratio, ov.sampleRatio);
      }
    });

    it('every container has cpu and memory requests and limits', () => {
      for (const w of workloads(objs()))
        for (const c of [...w.pod.containers, ...(w.pod.initContainers ?? [])])
          for (const k of ['requests', 'limits'])
            for (const r of ['cpu', 'memory']) assert.ok(c.resources?.[k]?.[r], `${w.obj.metadata.name}/${c.name}: no ${k}.${r}`);
      const worker = find(objs(), 'Deployment', WORKER)!.spec.template.spec.containers[0];
      assert.equal(String(worker.resources.limits.cpu), '1', 'a scenario run is single-threaded: 1 CPU per worker');
    });

    it('pods run as non-root, without privilege escalation, capabilities or a writable root filesystem', () => {
      for (const w of workloads(objs()))
        for (const c of w.pod.containers) {
          const who = `${w.obj.metadata.name}/${c.name}`;
          assert.equal(c.securityContext?.runAsNonRoot ?? w.pod.securityContext?.runAsNonRoot, true, `${who} runAsNonRoot`);
          assert.ok((c.securityContext?.runAsUser ?? w.pod.securityContext?.runAsUser) > 0, `${who} runAsUser`);
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${who} allowPrivilegeEscalation`);
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${who} readOnlyRootFilesystem`);
          assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${who} capabilities`);
        }
    });

    it('images are tagged and not :latest', () => {
      for (const w of workloads(objs()))
        for (const c of w.pod.containers) {
          assert.match(
            c.image ?? '',
            /^[^:@]+(:[0-9][\w.-]*|@sha256:[0-9a-f]{64})$|^[\w.-]+(:\d+)?\/[^:@]+(:[0-9][\w.-]*|@sha256:[0-9a-f]{64})$/,
            `${c.name}: image ${c.image}`,
          );
          assert.doesNotMatch(c.image!, /:latest$/);
        }
      const twinctl = find(objs(), 'Deployment', WORKER)!.spec.template.spec.containers[0].image as string;
      if (ov.dir !== 'base') assert.ok(!twinctl.startsWith('kdump-twin/'), 'the overlay sets the image registry');
    });

    it('every Service selects the pods of some workload', () => {
      const pods = workloads(objs());
      for (const s of objs().filter((o) => o.kind === 'Service')) {
        assert.ok(Object.keys(s.spec.selector ?? {}).length, `Service ${s.metadata.name} has no selector`);
        const w = pods.find((p) => matches(s.spec.selector, p.labels));
        assert.ok(w, `Service ${s.metadata.name} selects no pod template`);
        for (const p of s.spec.ports) {
          const declared = w.pod.containers.flatMap((c) => c.ports ?? []);
          assert.ok(
            declared.some((d) => d.name === p.targetPort || d.containerPort === p.targetPort),
            `Service ${s.metadata.name}: targetPort ${p.targetPort} not declared`,
          );
        }
      }
      assert.equal(find(objs(), 'Service', 'nats-headless')!.spec.clusterIP, 'None');
      assert.equal(find(objs(), 'StatefulSet', 'nats')!.spec.serviceName, 'nats-headless');
    });

    it('ConfigMap references name rendered ConfigMaps; Secret references only the out-of-band Secret', () => {
      const cms = new Set(
        objs()
          .filter((o) => o.kind === 'ConfigMap')
          .map((o) => o.metadata.name),
      );
      for (const w of workloads(objs())) {
        for (const v of w.pod.volumes ?? [])
          if (v.configMap) assert.ok(cms.has(v.configMap.name), `${w.obj.metadata.name}: volume ConfigMap ${v.configMap.name} is not rendered`);
        for (const v of w.pod.volumes ?? []) assert.equal(v.secret, undefined, `${w.obj.metadata.name}: secret volume`);
        for (const c of w.pod.containers) {
          for (const f of c.envFrom ?? []) {
            if (f.configMapRef) assert.ok(cms.has(f.configMapRef.name), `${c.name}: envFrom ConfigMap ${f.configMapRef.name} is not rendered`);
            if (f.secretRef) assert.equal(f.secretRef.name, SECRET);
          }
          for (const e of c.env ?? []) {
            if (e.valueFrom?.configMapKeyRef) assert.ok(cms.has(e.valueFrom.configMapKeyRef.name));
            if (e.valueFrom?.secretKeyRef) {
              assert.equal(e.valueFrom.secretKeyRef.name, SECRET, `${c.name}: ${e.name}`);
              assert.ok(['NATS_USER', 'NATS_PASSWORD'].includes(e.valueFrom.secretKeyRef.key));
            }
          }
        }
      }
    });

    it('no Secret carries data; NATS_PASSWORD always comes from the Secret; every NATS client has credentials', () => {
      for (const o of objs().filter((x) => x.kind === 'Secret')) assert.ok(!o.data && !o.stringData, `Secret ${o.metadata.name} carries data`);
      assert.ok(
        !objs().some((o) => o.kind === 'ConfigMap' && Object.keys(o.data ?? {}).some((k) => /PASSWORD|TOKEN|CREDS/.test(k))),
        'credentials in a ConfigMap',
      );
      for (const w of workloads(objs()))
        for (const c of w.pod.containers) {
          const env = c.env ?? [];
          for (const e of env.filter((x) => x.name === 'NATS_PASSWORD')) assert.equal(e.valueFrom?.secretKeyRef?.name, SECRET, `${c.name}: NATS_PASSWORD`);
          if (w.labels['kdump-twin.dev/nats-client'] === 'true' || w.obj.metadata.name === 'nats')
            for (const k of ['NATS_USER', 'NATS_PASSWORD'])
              assert.ok(
                env.some((e) => e.name === k && e.valueFrom?.secretKeyRef),
                `${w.obj.metadata.name}: no ${k}`,
              );
        }
    });

    it('NetworkPolicies: default deny in and out, and every pod template is selected by an allow policy of its own', () => {
      const nps = objs().filter((o) => o.kind === 'NetworkPolicy');
      const deny = nps.find((n) => Object.keys(n.spec.podSelector).length === 0 && !n.spec.ingress && !n.spec.egress);
      assert.ok(deny, 'no default deny');
      assert.deepEqual([...deny.spec.policyTypes].sort(), ['Egress', 'Ingress']);
      const allows = nps.filter((n) => n !== deny && Object.keys(n.spec.podSelector.matchLabels ?? {}).length > 0);
      for (const w of workloads(objs()))
        assert.ok(
          allows.some((n) => matches(n.spec.podSelector.matchLabels, w.labels)),
          `${w.obj.metadata.name} is selected by no allow policy`,
        );
      const dns = nps.find((n) =>
        n.spec.egress?.some((e: { ports?: { port: number; protocol: string }[] }) => e.ports?.some((p) => p.port === 53 && p.protocol === 'UDP')),
      );
      assert.ok(dns && Object.keys(dns.spec.podSelector).length === 0, 'no DNS egress for every pod');
    });

    it('NetworkPolicies: exactly the flows of the twin (NATS, workers -> smmu-twin, OTLP, NATS routes)', () => {
      const nps = objs().filter((o) => o.kind === 'NetworkPolicy');
      type Rule = {
        from?: { podSelector?: { matchLabels?: Record<string, string> } }[];
        to?: { podSelector?: { matchLabels?: Record<string, string> } }[];
        ports?: { port: number }[];
      };
      const pods = workloads(objs());
      const labelsOf = (name: string) => pods.find((p) => p.obj.metadata.name === name)!.labels;
      /** Is traffic from pod a to pod b on port allowed, by an egress rule of a and an ingress rule of b? */
      const allowed = (a: string, b: string, port: number) => {
        const [la, lb] = [labelsOf(a), labelsOf(b)];
        const sel = (n: Obj) => matches(n.spec.podSelector.matchLabels, la);
        const out = nps.some(
          (n) =>
            sel(n) &&
            (n.spec.egress as Rule[] | undefined)?.some(
              (r) => r.to?.some((t) => t.podSelector && matches(t.podSelector.matchLabels, lb)) && r.ports?.some((p) => p.port === port),
            ),
        );
        const inn = nps.some(
          (n) =>
            matches(n.spec.podSelector.matchLabels, lb) &&
            (n.spec.ingress as Rule[] | undefined)?.some(
              (r) => r.from?.some((f) => f.podSelector && matches(f.podSelector.matchLabels, la)) && r.ports?.some((p) => p.port === port),
            ),
        );
        return out && inn;
      };
      const clients = [...Object.keys(TWINS), WORKER, ...(ov.campaignId ? ['campaign-controller'] : [])];
      for (const c of clients) {
        assert.ok(allowed(c, 'nats', 4222), `${c} -> nats:4222`);
        assert.ok(allowed(c, 'jaeger', 4318), `${c} -> jaeger:4318`);
      }
      assert.ok(allowed('nats', 'nats', 6222), 'nats routes');
      assert.ok(allowed(WORKER, 'smmu-twin', 50051), 'workers -> smmu-twin');
      for (const [t, port] of Object.entries(TWINS))
        for (const c of clients) if (!(c === WORKER && t === 'smmu-twin')) assert.ok(!allowed(c, t, port), `${c} -> ${t}:${port} should not be open`);
      assert.ok(!allowed(WORKER, 'nats', 6222), 'workers must not reach the NATS routes');
    });

    it('the HPA scales the worker Deployment on CPU', () => {
      const hpas = objs().filter((o) => o.kind === 'HorizontalPodAutoscaler');
      assert.equal(hpas.length, 1);
      const h = hpas[0]!;
      assert.deepEqual(h.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: WORKER });
      assert.ok(find(objs(), 'Deployment', h.spec.scaleTargetRef.name));
      assert.deepEqual([h.spec.minReplicas, h.spec.maxReplicas], ov.hpa);
      assert.ok(
        h.spec.metrics.some(
          (m: { resource?: { name: string; target: { type: string } } }) => m.resource?.name === 'cpu' && m.resource.target.type === 'Utilization',
        ),
      );
    });

    it('every PDB selects the pods of a workload, and every long-running workload has one', () => {
      const pdbs = objs().filter((o) => o.kind === 'PodDisruptionBudget');
      const pods = workloads(objs());
      for (const p of pdbs)
        assert.ok(
          pods.some((w) => matches(p.spec.selector.matchLabels, w.labels)),
          `PDB ${p.metadata.name} selects nothing`,
        );
      for (const w of pods.filter((x) => x.obj.kind !== 'Job'))
        assert.ok(
          pdbs.some((p) => matches(p.spec.selector.matchLabels, w.labels)),
          `${w.obj.metadata.name} has no PDB`,
        );
    });

    it('labels: name, part-of and component on every workload and its pods', () => {
      for (const w of workloads(objs()))
        for (const labels of [w.obj.metadata.labels ?? {}, w.labels]) {
          assert.equal(labels['app.kubernetes.io/part-of'], 'kdump-twin', w.obj.metadata.name);
          assert.equal(labels['app.kubernetes.io/name'], w.obj.metadata.name);
          assert.ok(labels['app.kubernetes.io/component'], `${w.obj.metadata.name}: component`);
        }
    });

    it('NATS: its configuration is valid for nats-server, with JetStream, authorization from the environment and, when clustered, routes to every server', async () => {
      const sts = find(objs(), 'StatefulSet', 'nats')!;
      const pod = sts.spec.template.spec as PodSpec;
      const cmName = pod.volumes!.find((v) => v.configMap)!.configMap.name as string;
      const conf = find(objs(), 'ConfigMap', cmName)!.data!['nats.conf']!;
      assert.match(conf, /jetstream\s*\{[^}]*store_dir:\s*\/data\/jetstream/);
      assert.match(conf, /authorization\s*\{\s*user:\s*\$NATS_USER\s+password:\s*\$NATS_PASSWORD\s*\}/);
      assert.equal(pod.containers[0]!.readinessProbe.httpGet.path, '/healthz?js-enabled-only=true');
      assert.ok(pod.containers[0]!.volumeMounts!.some((m) => m.name === 'data' && m.mountPath === '/data'));
      assert.equal(sts.spec.volumeClaimTemplates[0].metadata.name, 'data');
      const routes = [...conf.matchAll(/nats:\/\/([\w.-]+):6222/g)].map((m) => m[1]);
      if (ov.natsServers > 1)
        assert.deepEqual(
          routes,
          Array.from({ length: ov.natsServers }, (_, i) => `nats-${i}.${sts.spec.serviceName}`),
        );
      else assert.equal(routes.length, 0);
      const dir = mkdtempSync(join(tmpdir(), 'nats-conf-'));
      try {
        writeFileSync(join(dir, 'nats.conf'), conf);
        const env = { PATH: process.env['PATH'] ?? '', POD_NAME: 'nats-0', NATS_USER: 'u', NATS_PASSWORD: 'p' };
        await run('nats-server', ['-c', join(dir, 'nats.conf'), '-t'], { env }).catch((e: NodeJS.ErrnoException & { stderr?: string }) => {
          throw new Error(
            e.code === 'ENOENT' ? 'nats-server is required to check nats.conf (apt-get install nats-server)' : `nats-server -t: ${e.stderr ?? e.message}`,
            { cause: e },
          );
        });
        // The same file without the Secret's variables is rejected: they really are referenced.
        await assert.rejects(run('nats-server', ['-c', join(dir, 'nats.conf'), '-t'], { env: { PATH: env.PATH, POD_NAME: 'nats-0' } }));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    if (ov.campaignId)
      it(`the controller Job runs the campaign document ${ov.campaignId} from its ConfigMap, restartable`, () => {
        const job = find(objs(), 'Job', 'campaign-controller');
        assert.ok(job, 'no Job campaign-controller');
        assert.ok(job.spec.backoffLimit > 0, 'a re-run resumes: backoffLimit > 0');
        const pod = job.spec.template.spec as PodSpec;
        const c = pod.containers[0]!;
        const nats = find(objs(), 'StatefulSet', 'nats')!;
        // The campaign streams are replicated on every server of the JetStream cluster.
        assert.deepEqual(
          [...(c.command ?? []), ...(c.args ?? [])],
          ['node', 'apps/twinctl/bin/twinctl.js', 'campaign', 'run', '/campaign/campaign.json', '--replicas', String(nats.spec.replicas)],
        );
        const mount = c.volumeMounts!.find((m) => m.mountPath === '/campaign')!;
        const cm = find(objs(), 'ConfigMap', pod.volumes!.find((v) => v.name === mount.name)!.configMap.name)!;
        const doc = JSON.parse(cm.data!['campaign.json']!);
        const spec = parseCampaign(doc);
        assert.equal(spec.id, ov.campaignId);
        assert.deepEqual(doc.seeds, { from: 1, count: 500 });
      });
  });

describe('the schema validation bites', () => {
  it('a Deployment with replicas "two" or containerPort "grpc" is rejected; an unknown kind or apiVersion too', () => {
    const objs = rendered.get('base')!;
    const d = structuredClone(find(objs, 'Deployment', 'dma-fleet')!);
    assert.doesNotThrow(() => validate(d));
    assert.throws(() => validate({ ...d, spec: { ...d.spec, replicas: 'two' } }), /replicas must be integer/);
    const port = structuredClone(d);
    port.spec.template.spec.containers[0].ports[0].containerPort = 'grpc';
    assert.throws(() => validate(port), /containerPort/);
    assert.throws(() => validate({ ...d, kind: 'Deploymint' }), /unknown kind/);
    assert.throws(() => validate({ ...d, apiVersion: 'apps/v9' }), /unknown apiVersion/);
  });
});

describe('deploy/docker', () => {
  const dir = join(root, 'deploy', 'docker');
  const APPS = [...Object.keys(TWINS), 'twinctl'];
  it('has one Dockerfile per app', () => {
    assert.deepEqual(
      readdirSync(dir)
        .filter((f) => f.endsWith('.Dockerfile'))
        .sort(),
      APPS.map((a) => `${a}.Dockerfile`).sort(),
    );
  });
  for (const app of APPS)
    it(`${app}.Dockerfile: multi-stage from a pinned base, builds with Nx, runs as non-root what it copied`, () => {
      const text = readFileSync(join(dir, `${app}.Dockerfile`), 'utf8').replace(/\\\n/g, ' ');
      const lines = text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
      const froms = lines.map((l, i) => [l, i] as const).filter(([l]) => /^FROM\s/i.test(l));
      assert.ok(froms.length >= 2, 'not multi-stage');
      for (const [l] of froms) assert.match(l, /^FROM node:20\.20-bookworm-slim\b/, `base image not pinned: ${l}`);
      assert.match(froms[0]![0], /\sAS\s+build$/i, 'no named build stage');
      const build = lines.slice(froms[0]![1], froms[1]![1]);
      assert.ok(
        build.some((l) => /^RUN npm ci\b/.test(l)),
        'no npm ci',
      );
      assert.ok(
        build.some((l) => l.startsWith('RUN ') && l.includes(`npx nx run-many -t build -p ${app}`)),
        'no Nx build of the app',
      );
      assert.ok(
        build.some((l) => /npm (prune|ci) .*--omit=dev/.test(l)),
        'dev dependencies not dropped',
      );
      const final = lines.slice(froms[froms.length - 1]![1]);
      const users = final.filter((l) => /^USER\s/i.test(l));
      assert.ok(users.length > 0, 'no USER in the final stage');
      assert.doesNotMatch(users[users.length - 1]!, /^USER\s+(root|0)(:|$)/i, 'runs as root');
      assert.ok(
        final.some((l) => /^ENV\s.*\bNODE_ENV=production\b/.test(l)),
        'NODE_ENV',
      );
      assert.ok(
        final.some((l) => /^ENV\s.*\bPROTO_DIR=\/app\/proto\b/.test(l)),
        'PROTO_DIR',
      );
      const copies = final.filter((l) => l.startsWith('COPY '));
      assert.ok(
        copies.every((l) => l.startsWith('COPY --from=build ')),
        'the final stage copies only from the build stage',
      );
      const dst = copies.map((l) => l.split(/\s+/).pop()!);
      for (const need of ['./proto', './node_modules', `./apps/${app}/dist`, `./apps/${app}/package.json`])
        assert.ok(dst.includes(need), `does not copy ${need}`);
      // Every workspace library the app depends on (transitively): its package.json and dist.
      const pkgs = new Map<string, { dir: string; deps: string[] }>();
      for (const base of ['apps', ...readdirSync(join(root, 'libs')).map((g) => `libs/${g}`)])
        for (const d of readdirSync(join(root, base))) {
          try {
            const j = JSON.parse(readFileSync(join(root, base, d, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string> };
            pkgs.set(j.name, { dir: `${base}/${d}`, deps: Object.keys(j.dependencies ?? {}) });
          } catch {
            /* not a package */
          }
        }
      const seen = new Set<string>();
      const todo = [`@kdump-twin/${app}`];
      while (todo.length) {
        const n = todo.pop()!;
        if (seen.has(n)) continue;
        seen.add(n);
        todo.push(...pkgs.get(n)!.deps.filter((x) => x.startsWith('@kdump-twin/')));
      }
      for (const n of seen)
        for (const f of ['package.json', 'dist']) assert.ok(dst.includes(`./${pkgs.get(n)!.dir}/${f}`), `does not copy ${pkgs.get(n)!.dir}/${f}`);
      const entry = final.find((l) => /^(ENTRYPOINT|CMD)\s/.test(l))!;
      assert.deepEqual(
        JSON.parse(entry.replace(/^(ENTRYPOINT|CMD)\s+/, '')),
        app === 'twinctl' ? ['node', 'apps/twinctl/bin/twinctl.js'] : ['node', `apps/${app}/dist/main.js`],
      );
      const expose = final.find((l) => /^EXPOSE\s/.test(l));
      assert.equal(expose, `EXPOSE ${app === 'twinctl' ? WORKER_HEALTH_PORT : TWINS[app]}`);
    });
  it('.dockerignore keeps installed and built output out of the context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const p of ['node_modules', 'dist', '.nx', '.scratch', 'out', '.git']) assert.ok(ignored.includes(p), p);
  });
});
