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
