// SPDX-License-Identifier: Apache-2.0
// twinctl campaign run | status | report | worker | purge: fault-injection campaigns over NATS
// JetStream (queue.ts has the layout). `run --workers N` starts N local workers as child
// processes, which is the whole campaign on one machine; in a cluster the workers are a
// Deployment (deploy/k8s) and `run` only submits and follows.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { formatCampaignMatrix, formatProgress, progressOf, SchemaError, campaignMatrix } from '@kdump-twin/scenario';
import { NatsAuthError } from '@kdump-twin/transport';
import type { CliResult } from '../cli';
import { CampaignConflict, collect, purge, status, submit } from './controller';
import { connectNats, DEFAULT_ACK_WAIT_MS, natsUrl, QueueConfigError } from './queue';
import { CampaignWorker, startHealth } from './worker';
import { CAMPAIGN_USAGE } from '../usage';

const VALUE = new Set([
  '--nats',
  '--workers',
  '--replicas',
  '--ack-wait-ms',
  '--progress-ms',
  '--name',
  '--smmu-twin',
  '--health-port',
  '--max-items',
  '--idle-exit-ms',
  '--die-after',
]);
const BOOL = new Set(['--json', '--no-wait', '--help', '-h']);

interface Args {
  positional: string[];
  flags: Set<string>;
  values: Map<string, string>;
}

function parse(argv: readonly string[]): Args | string {
  const a: Args = { positional: [], flags: new Set(), values: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (!x.startsWith('-')) {
      a.positional.push(x);
      continue;
    }
    const eq = x.indexOf('=');
    const name = eq > 0 ? x.slice(0, eq) : x;
    if (VALUE.has(name)) {
      const v = eq > 0 ? x.slice(eq + 1) : argv[++i];
      if (v === undefined) return `${name} needs a value`;
      a.values.set(name, v);
    } else if (BOOL.has(name)) a.flags.add(name);
    else return `unknown option ${x}`;
  }
  return a;
}

/** A non-negative integer flag, or an error naming it. */
function count(a: Args, flag: string, min = 0): number | undefined | string {
  const v = a.values.get(flag);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) return `${flag} must be an integer >= ${min}, got "${v}"`;
  return Number(v);
}

const out = (code: number, stdout = '', stderr = ''): CliResult => ({ code, stdout, stderr });
const usage = (m: string) => out(2, '', `twinctl: ${m}\n`);
const rejected = (m: string) => out(1, '', `twinctl: ${m}\n`);

function readDocument(file: string): unknown | string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return `cannot read ${file}: ${(e as Error).message}`;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    return `${file}: not JSON: ${(e as Error).message}`;
  }
}

/** How to start twinctl as a child: the built CLI when it exists (an image), else the sources through swc. */
export function twinctlCommand(args: readonly string[]): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  const app = join(__dirname, '..', '..');
  const dist = join(app, 'dist', 'main.js');
  if (existsSync(dist) && process.env['TWINCTL_FROM_SOURCE'] !== '1') return { file: process.execPath, args: [dist, ...args], env: process.env };
  return {
    file: process.execPath,
    args: ['--conditions=kdump-twin-source', '-r', '@swc-node/register', join(app, 'src', 'main.ts'), ...args],
    env: { ...process.env, SWC_NODE_PROJECT: join(app, '..', '..', 'tsconfig.base.json') },
  };
}

/** N local workers: `twinctl campaign worker` child processes on the same NATS, stopped with SIGTERM. */
function localWorkers(n: number, url: string, ackWaitMs: number | undefined, log: (s: string) => void): ChildProcess[] {
  return Array.from({ length: n }, (_, i) => {
    const c = twinctlCommand([
      'campaign',
      'worker',
      '--nats',
      url,
      '--name',
      `local-${i}`,
      ...(ackWaitMs !== undefined ? ['--ack-wait-ms', String(ackWaitMs)] : []),
    ]);
    const p = spawn(c.file, c.args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...c.env, KDUMP_TWIN_EXIT_WITH_PARENT: '1' } });
    p.stderr?.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n')) if (line.trim()) log(`[local-${i}] ${line}`);
    });
    return p;
  });
}

/** How long a command waits for its NATS connection to drain before it closes it. */
const DRAIN_MS = 10_000;

/** How long a local worker has to finish its item after SIGTERM before it is killed. */
const STOP_GRACE_MS = 30_000;

/**
 * SIGTERM to each local worker, SIGKILL to one still running STOP_GRACE_MS later: the campaign
 * is complete by then, and an item a killed worker held unacknowledged goes back to the queue
 * and is found done, so the controller never waits on a stuck child.
 */
async function stopAll(procs: readonly ChildProcess[], log: (s: string) => void): Promise<void> {
  await Promise.all(
    procs.map(
      (p, i) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          const kill = setTimeout(() => {
            log(`local-${i}: still running ${STOP_GRACE_MS} ms after SIGTERM, killed`);
            p.kill('SIGKILL');
          }, STOP_GRACE_MS);
          p.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          p.kill('SIGTERM');
        }),
    ),
  );
}

async function withNats<T>(a: Args, name: string, f: (nc: NatsConnection, url: string) => Promise<T>): Promise<T | CliResult> {
  const url = natsUrl(a.values.get('--nats'));
  let nc: NatsConnection;
  try {
    nc = await connectNats(url, name);
  } catch (e) {
    if (e instanceof NatsAuthError) return rejected(e.message);
    return rejected(`${(e as Error).message}; start one (nats-server -js) or give --nats`);
  }
  try {
    return await f(nc, url);
  } finally {
    // Drain, but never wait on it for long: while the connection is moving to another server of
    // a cluster (one was just killed) a drain can wait on a reconnect; what matters is stored.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, DRAIN_MS)));
    await Promise.race([nc.drain().catch(() => undefined), late]);
    clearTimeout(timer);
    if (!nc.isClosed()) await nc.close().catch(() => undefined);
  }
}

async function runCmd(a: Args, progressOut: (s: string) => void): Promise<CliResult> {
  if (a.positional.length !== 1) return usage('campaign run takes one campaign file');
  const doc = readDocument(a.positional[0]!);
  if (typeof doc === 'string') return rejected(doc);
  const workers = count(a, '--workers');
  const ackWait = count(a, '--ack-wait-ms', 1000);
  const every = count(a, '--progress-ms', 100);
  const replicas = count(a, '--replicas', 1);
  for (const v of [workers, ackWait, every, replicas]) if (typeof v === 'string') return usage(v);
  if (replicas !== undefined && (replicas as number) > 5) return usage(`--replicas must be at most 5 (JetStream's limit), got ${replicas}`);
  const r = await withNats(a, 'twinctl-campaign-controller', async (nc, url) => {
    let sub;
    try {
      sub = await submit(nc, doc, {
        ackWaitMs: (ackWait as number | undefined) ?? DEFAULT_ACK_WAIT_MS,
        ...(replicas !== undefined ? { replicas: replicas as number } : {}),
      });
    } catch (e) {
      if (e instanceof SchemaError || e instanceof CampaignConflict || e instanceof QueueConfigError) return rejected(e.message);
      throw e;
    }
    const { spec, generation, submitted } = sub;
    progressOut(
      `campaign ${spec.id}: ${spec.total} items; ${submitted.resumed ? `resumed with ${submitted.alreadyDone} results, ` : ''}queued ${submitted.published}${submitted.duplicates ? ` (${submitted.duplicates} were still queued)` : ''}`,
    );
    if (a.flags.has('--no-wait'))
      return out(
        0,
        a.flags.has('--json')
          ? `${JSON.stringify({ campaign: spec.id, total: spec.total, ...submitted })}\n`
          : `queued; follow with: twinctl campaign status ${spec.id}\n`,
      );
    const procs = localWorkers((workers as number | undefined) ?? 0, url, ackWait as number | undefined, progressOut);
    let last = 0;
    let seen = submitted.alreadyDone;
    // Nothing arriving while nothing runs locally: say where workers come from (once).
    const hint = setTimeout(() => {
      if (seen === submitted.alreadyDone && !procs.length)
        progressOut(`campaign ${spec.id}: no results yet; start workers (twinctl campaign worker, or run with --workers N)`);
    }, 15_000);
    try {
      const c = await collect(nc, spec, generation, {
        until: (c) => c.results.size >= spec.total,
        onResult: (_r, c) => {
          seen = c.results.size;
          const now = Date.now();
          if (now - last < ((every as number | undefined) ?? 2000) && c.results.size < spec.total) return;
          last = now;
          const errors = [...c.results.values()].filter((x) => x.error !== undefined).length;
          progressOut(`campaign ${spec.id}: ${formatProgress(progressOf(spec.total, c.results.size, errors, c.firstAt, c.lastAt))}`);
        },
      });
      const m = campaignMatrix(spec, c.results.values());
      return out(0, a.flags.has('--json') ? `${JSON.stringify(m, null, 2)}\n` : `${formatCampaignMatrix(m)}\n`);
    } finally {
      clearTimeout(hint);
      await stopAll(procs, progressOut);
    }
  });
  return r;
}

async function statusCmd(a: Args, report: boolean): Promise<CliResult> {
  if (a.positional.length !== 1) return usage(`campaign ${report ? 'report' : 'status'} takes one campaign id`);
  const id = a.positional[0]!;
  return withNats(a, 'twinctl-campaign-status', async (nc) => {
    const s = await status(nc, id);
    if (!s) return rejected(`no campaign "${id}" is stored on this NATS`);
    if (report) return out(0, a.flags.has('--json') ? `${JSON.stringify(s.matrix, null, 2)}\n` : `${formatCampaignMatrix(s.matrix)}\n`);
    if (a.flags.has('--json'))
      return out(
        0,
        `${JSON.stringify({ campaign: s.campaign, progress: s.progress, queued: s.queued, consumer: s.consumer, errors: s.matrix.errors, redeliveredResults: s.matrix.redelivered }, null, 2)}\n`,
      );
    const lines = [`campaign ${id}: ${formatProgress(s.progress)}`, `  queued ${s.queued}, results that ran on a redelivery ${s.matrix.redelivered}`];
    if (s.consumer)
      lines.push(`  workers' consumer: ${s.consumer.ackPending} in hand, ${s.consumer.redelivered} redelivered now, ${s.consumer.waiting} workers waiting`);
    return out(0, `${lines.join('\n')}\n`);
  }) as Promise<CliResult>;
}

async function workerCmd(a: Args, log: (s: string) => void): Promise<CliResult> {
  if (a.positional.length) return usage('campaign worker takes no arguments');
  const nums: Record<string, number | undefined> = {};
  for (const [f, min] of [
    ['--ack-wait-ms', 1000],
    ['--max-items', 1],
    ['--idle-exit-ms', 0],
    ['--die-after', 0],
    ['--health-port', 0],
  ] as const) {
    const v = count(a, f, min);
    if (typeof v === 'string') return usage(v);
    nums[f] = v;
  }
  const smmuTwin = a.values.get('--smmu-twin') ?? process.env['KDUMP_TWIN_SMMU_TWIN'];
  if (smmuTwin !== undefined && !/^[^\s:]+:\d{1,5}$/.test(smmuTwin)) return usage(`--smmu-twin: host:port, got "${smmuTwin}"`);
  const name = a.values.get('--name') ?? process.env['HOSTNAME'] ?? `worker-${process.pid}`;
  const healthPort = nums['--health-port'] ?? (process.env['GRPC_PORT'] ? Number(process.env['GRPC_PORT']) : undefined);
  return withNats(a, `twinctl-campaign-${name}`, async (nc) => {
    const w = new CampaignWorker(nc, {
      name,
      ...(smmuTwin ? { smmuTwin } : {}),
      ackWaitMs: nums['--ack-wait-ms'],
      maxItems: nums['--max-items'],
      dieAfter: nums['--die-after'],
      idleExitMs: nums['--idle-exit-ms'],
      log,
    });
    const health = healthPort !== undefined ? await startHealth(process.env['GRPC_HOST'] ?? '127.0.0.1', healthPort, nc) : undefined;
    const stop = () => w.stop();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    // Started by a controller or test that may be killed: a worker without its parent stops at once
    // (its item in hand, unacknowledged, goes back to the queue after AckWait).
    const parent = process.ppid;
    const orphan = process.env['KDUMP_TWIN_EXIT_WITH_PARENT'] === '1' ? setInterval(() => process.ppid !== parent && process.exit(1), 500).unref() : undefined;
    try {
      const stats = await w.run(() => {
        health?.serving(true);
        log(`worker ${name}: ready${health ? ` (grpc.health.v1 on ${health.port})` : ''}`);
      });
      log(`worker ${name}: stopped ${JSON.stringify(stats)}`);
      return out(0);
    } finally {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      clearInterval(orphan);
      health?.server.forceShutdown();
    }
  }) as Promise<CliResult>;
}

async function purgeCmd(a: Args): Promise<CliResult> {
  if (a.positional.length !== 1) return usage('campaign purge takes one campaign id');
  return withNats(a, 'twinctl-campaign-purge', async (nc) => {
    const r = await purge(nc, a.positional[0]!);
    return out(0, `purged ${r.work} queued items and ${r.results} results of ${a.positional[0]}\n`);
  }) as Promise<CliResult>;
}

export async function runCampaignCommand(argv: readonly string[], stderr: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<CliResult> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') return out(0, `${CAMPAIGN_USAGE}\n`);
  const a = parse(rest);
  if (typeof a === 'string') return usage(a);
  if (!sub || a.flags.has('--help') || a.flags.has('-h') || sub === 'help') return out(sub ? 0 : 2, `${CAMPAIGN_USAGE}\n`);
  try {
    return await campaignCommand(sub, a, stderr);
  } catch (e) {
    // NATS failed in a way no retry mended: say which command and what, exit 1; what is stored stays stored.
    const code = (e as { code?: unknown }).code;
    return rejected(
      `campaign ${sub}: ${(e as Error).message}${typeof code === 'string' && code !== (e as Error).message ? ` (${code})` : ''}; what is stored in JetStream is kept, run the command again to go on`,
    );
  }
}

async function campaignCommand(sub: string, a: Args, stderr: (s: string) => void): Promise<CliResult> {
  switch (sub) {
    case 'run':
      return runCmd(a, stderr);
    case 'status':
      return statusCmd(a, false);
    case 'report':
      return statusCmd(a, true);
    case 'worker':
      return workerCmd(a, stderr);
    case 'purge':
      return purgeCmd(a);
    default:
      return usage(`unknown campaign command "${sub}"\n\n${CAMPAIGN_USAGE}`);
  }
}
