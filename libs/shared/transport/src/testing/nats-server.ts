// SPDX-License-Identifier: Apache-2.0
// A real nats-server for tests and tools: started on 127.0.0.1 on a free port chosen now, with
// JetStream in a scratch directory, stopped by its pid. No server binary and no server at
// NATS_URL is an error that says so (tests fail, they never skip).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  /** The server's process when this helper started it (undefined when NATS_URL was used). */
  readonly child?: ChildProcess;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1, as the kernel hands one out now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether a NATS server answers at host:port (it greets with INFO). */
export function natsAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host, port });
    const done = (ok: boolean) => {
      c.destroy();
      resolve(ok);
    };
    c.setTimeout(timeoutMs, () => done(false));
    c.once('error', () => done(false));
    c.once('data', (d) => done(d.toString().startsWith('INFO')));
  });
}

export function natsServerBinary(): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':').concat(['/usr/sbin', '/usr/local/bin', '/usr/bin'])) {
    const p = join(dir, 'nats-server');
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** Starts a private nats-server (preferred: tests own their server), else uses NATS_URL if it answers. */
export async function startNatsServer(o: { port?: number } = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  if (!bin && o.port === undefined) {
    const url = process.env['NATS_URL'];
    if (url) {
      const m = /^(?:nats:\/\/)?([^:/]+):(\d+)$/.exec(url);
      if (m && (await natsAnswers(m[1]!, Number(m[2])))) return { url, port: Number(m[2]), stop: async () => undefined };
    }
    throw new Error('no nats-server binary on PATH (apt-get install nats-server) and no server answers at NATS_URL: the NATS tests cannot run');
  }
  if (!bin) throw new Error('no nats-server binary on PATH (apt-get install nats-server)');
  const port = o.port ?? (await freePort());
  const store = mkdtempSync(join(tmpdir(), 'kdump-twin-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // Never outlive the process that started it, however that process ends short of a signal.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d.toString()));
  for (let i = 0; i < 100; i++) {
    if (await natsAnswers('127.0.0.1', port, 200)) break;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!(await natsAnswers('127.0.0.1', port, 500))) {
    child.kill('SIGKILL');
    rmSync(store, { recursive: true, force: true });
    throw new Error(`nats-server did not answer on 127.0.0.1:${port}: ${stderr.trim().slice(-500)}`);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    child,
    stop: async () => {
      process.removeListener('exit', reap);
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      rmSync(store, { recursive: true, force: true });
    },
  };
}

export interface NatsClusterServer {
  /** server_name: n0, n1, ... */
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** SIGKILL: the server is lost as a node is (its store stays). */
  kill(): Promise<void>;
}

export interface NatsCluster {
  readonly servers: readonly NatsClusterServer[];
  /** Every client URL, comma-separated (how twinctl's --nats takes a server list). */
  readonly urls: string;
  stop(): Promise<void>;
}

/**
 * A JetStream cluster of `size` nats-servers on 127.0.0.1 (client and route ports chosen now),
 * ready when every server answers and a JetStream API call succeeds (a metadata leader exists).
 */
export async function startNatsCluster(size = 3, o: { readyTimeoutMs?: number } = {}): Promise<NatsCluster> {
  const bin = natsServerBinary();
  if (!bin) throw new Error('no nats-server binary on PATH (apt-get install nats-server): the cluster tests cannot run');
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort() })));
  const root = mkdtempSync(join(tmpdir(), 'kdump-twin-nats-cluster-'));
  const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(',');
  const servers: NatsClusterServer[] = ports.map((p, i) => {
    const name = `n${i}`;
    const args = [
      '-a',
      '127.0.0.1',
      '-p',
      String(p.client),
      '-js',
      '-sd',
      join(root, name),
      '-n',
      name,
      '--cluster_name',
      'kdump-twin-test',
      '--cluster',
      `nats://127.0.0.1:${p.route}`,
      '--routes',
      routes,
    ];
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'ignore'] });
    const reap = () => child.kill('SIGKILL');
    process.once('exit', reap);
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    return {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      child,
      kill: async () => {
        process.removeListener('exit', reap);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    };
  });
  const stop = async () => {
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(root, { recursive: true, force: true });
  };
  const end = Date.now() + (o.readyTimeoutMs ?? 20_000);
  const { connect } = await import('nats');
  for (;;) {
    const up = await Promise.all(ports.map((p) => natsAnswers('127.0.0.1', p.client, 200)));
    if (up.every(Boolean)) {
      const nc = await connect({ servers: servers[0]!.url }).catch(() => undefined);
      const ok = nc
        ? await nc
            .jetstreamManager()
            .then((j) => j.getAccountInfo())
            .then(
              () => true,
              () => false,
            )
        : false;
      await nc?.close();
      if (ok) break;
    }
    if (Date.now() > end) {
      await stop();
      throw new Error(`the ${size}-server NATS cluster did not form within ${o.readyTimeoutMs ?? 20_000} ms`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { servers, urls: servers.map((s) => s.url).join(','), stop };
}
