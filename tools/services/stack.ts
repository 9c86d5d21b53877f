// SPDX-License-Identifier: Apache-2.0
// The four services as processes, with NATS: what `npm run services`, the demo, the end-to-end
// tests and the benchmarks start. NATS is the given URL if it answers, else a nats-server of
// our own on a free loopback port; each service listens on 127.0.0.1 on its port (the default
// 50051-50054, or free ports chosen now). Ready means each answers grpc.health.v1 SERVING.
// stop() sends SIGTERM to every process it started and waits for it.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProto } from 'grpc-health-check';
import { freePort, natsAnswers, startNatsServer, type NatsServer } from '@kdump-twin/transport/testing';

export const SERVICES = ['smmu-twin', 'dma-fleet', 'crash-generator', 'kdump-driver'] as const;
export type ServiceName = (typeof SERVICES)[number];
export const DEFAULT_PORTS: Record<ServiceName, number> = { 'smmu-twin': 50051, 'dma-fleet': 50052, 'crash-generator': 50053, 'kdump-driver': 50054 };

const root = join(__dirname, '..', '..');

export interface Stack {
  readonly natsUrl: string;
  /** Whether this stack started the nats-server it uses. */
  readonly ownNats: boolean;
  readonly addresses: Record<ServiceName, string>;
  readonly procs: Record<ServiceName, ChildProcess>;
  /** Each service's output so far (JSON log lines). */
  logs(name: ServiceName): string;
  /** Restarts one service (same port). */
  restart(name: ServiceName): Promise<void>;
  /** Stops the stack's own nats-server and starts it again on the same port (reconnect tests). */
  restartNats(): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Use this NATS (must answer); default NATS_URL, or 127.0.0.1:4222, else a nats-server of our own. */
  readonly natsUrl?: string;
  /** Always start a nats-server of our own (tests). */
  readonly ownNats?: boolean;
  /** Choose free ports instead of 50051-50054. */
  readonly freePorts?: boolean;
  readonly env?: Record<string, string>;
  readonly log?: (line: string) => void;
}

async function pickNats(o: StackOptions): Promise<{ url: string; server?: NatsServer | undefined }> {
  if (!o.ownNats) {
    for (const url of [o.natsUrl, process.env['NATS_URL'], 'nats://127.0.0.1:4222']) {
      if (!url) continue;
      const m = /^(?:nats:\/\/)?([^:/]+):(\d+)$/.exec(url);
      if (m && (await natsAnswers(m[1]!, Number(m[2])))) return { url: url.startsWith('nats://') ? url : `nats://${url}` };
    }
  }
  const server = await startNatsServer();
  return { url: server.url, server };
}

/** grpc.health.v1.Health/Check of the server's overall status; true when SERVING. */
export async function healthy(address: string, timeoutMs = 1000): Promise<boolean> {
  const def = loadSync(healthProto, { keepCase: true, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
  const c = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<boolean>((resolve) => {
      c.check({ service: '' }, { deadline: Date.now() + timeoutMs }, (err: unknown, r: { status?: string } | undefined) =>
        resolve(!err && r?.status === 'SERVING'),
      );
    });
  } finally {
    c.close();
  }
}

function launch(name: ServiceName, env: Record<string, string>, sink: (s: string) => void): ChildProcess {
  const p = spawn(process.execPath, ['--conditions=kdump-twin-source', '-r', '@swc-node/register', join(root, 'apps', name, 'src', 'main.ts')], {
    cwd: root,
    env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.base.json'), KDUMP_TWIN_EXIT_WITH_PARENT: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  p.stdout!.on('data', (d) => sink(d.toString()));
  p.stderr!.on('data', (d) => sink(d.toString()));
  return p;
}

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const nats = await pickNats(o);
  const ports = {} as Record<ServiceName, number>;
  for (const s of SERVICES) ports[s] = o.freePorts ? await freePort() : DEFAULT_PORTS[s];
  const addresses = Object.fromEntries(SERVICES.map((s) => [s, `127.0.0.1:${ports[s]}`])) as Record<ServiceName, string>;
  const out = Object.fromEntries(SERVICES.map((s) => [s, ''])) as Record<ServiceName, string>;
  const procs = {} as Record<ServiceName, ChildProcess>;
  const envOf = (s: ServiceName) => ({
    NATS_URL: nats.url,
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: String(ports[s]),
    SERVICE_ID: `${s}-${process.pid}`,
    ...(o.env ?? {}),
  });
  const start = (s: ServiceName) => {
    procs[s] = launch(s, envOf(s), (text) => {
      out[s] += text;
      if (out[s].length > 4 << 20) out[s] = out[s].slice(-(2 << 20));
      o.log?.(text);
    });
  };
  const ready = async (s: ServiceName) => {
    for (let i = 0; i < 300; i++) {
      if (procs[s].exitCode !== null) throw new Error(`${s} exited (${procs[s].exitCode}) before it was ready:\n${out[s].slice(-2000)}`);
      if (await healthy(addresses[s], 500)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${s} did not report SERVING on ${addresses[s]} within 30 s:\n${out[s].slice(-2000)}`);
  };
  const stopOne = async (s: ServiceName) => {
    const p = procs[s];
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(SERVICES.map(stopOne));
    await nats.server?.stop();
  };
  try {
    for (const s of SERVICES) start(s);
    await Promise.all(SERVICES.map(ready));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    natsUrl: nats.url,
    ownNats: nats.server !== undefined,
    addresses,
    procs,
    logs: (s) => out[s],
    restart: async (s) => {
      await stopOne(s);
      start(s);
      await ready(s);
    },
    restartNats: async () => {
      if (!nats.server) throw new Error('restartNats: this stack uses a NATS it did not start');
      const port = nats.server.port;
      await nats.server.stop();
      nats.server = await startNatsServer({ port });
    },
    stop,
  };
}
