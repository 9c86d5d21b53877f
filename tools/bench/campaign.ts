// SPDX-License-Identifier: Apache-2.0
// Campaign throughput against worker count: campaigns/ci-scale.json cut to `items` runs, queued
// on a nats-server of our own and run by 1, 2, 4 ... `twinctl campaign worker` processes; the
// baseline is the same items run one after another in this process, with no queue. The rate
// comes from the results' JetStream timestamps (first to last result), so process start-up is
// not in it. Wall-clock timing is fine here: this is a tool.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCampaign, runWorkItem, workItem } from '@kdump-twin/scenario';
import { startNatsServer } from '@kdump-twin/transport/testing';

const root = join(__dirname, '..', '..');

export interface CampaignRow {
  readonly workers: number;
  readonly items: number;
  readonly runsPerSec: number;
  /** runsPerSec / the in-process baseline's. */
  readonly ratio: number;
  /** The same items on `workers` processes side by side with no queue (what the machine gives that many runners). */
  readonly parallelRunsPerSec: number;
  /** runsPerSec / parallelRunsPerSec: what the queue keeps of the machine's parallel rate. */
  readonly queueEfficiency: number;
  /** ratio / min(workers, cores): 1.0 = every core busy with runs and nothing lost to the queue. */
  readonly efficiency: number;
}

export interface CampaignBench {
  readonly baselineRunsPerSec: number;
  readonly baselineMeanRunMs: number;
  readonly rows: readonly CampaignRow[];
  /** Acknowledged JetStream publishes per second on the same nats-server (file storage, R1, 64 in flight). */
  readonly jetstreamPublishesPerSec: number;
}

/** JetStream operations one work item costs: work publish, worker pull, result lookup, result publish, work ack, controller read. */
export const JETSTREAM_OPS_PER_ITEM = 6;

/** Acknowledged publishes per second into a throwaway file stream, `inFlight` at a time. */
async function jetstreamPublishRate(url: string, count = 20_000, inFlight = 64): Promise<number> {
  const { connect } = await import('nats');
  const nc = await connect({ servers: url });
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: 'BENCH_JS_RATE', subjects: ['bench.js.rate'] });
    const js = nc.jetstream();
    const payload = new Uint8Array(512); // about a result's size
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) {
          next++;
          await js.publish('bench.js.rate', payload);
        }
      }),
    );
    const rate = count / ((performance.now() - t0) / 1000);
    await jsm.streams.delete('BENCH_JS_RATE');
    return rate;
  } finally {
    await nc.close();
  }
}

function twinctl(args: string[]): { file: string; args: string[]; env: NodeJS.ProcessEnv } {
  return {
    file: process.execPath,
    args: ['--conditions=kdump-twin-source', '-r', '@swc-node/register', join(root, 'apps', 'twinctl', 'src', 'main.ts'), ...args],
    env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.base.json'), KDUMP_TWIN_EXIT_WITH_PARENT: '1' },
  };
}

function run(args: string[]): Promise<string> {
  const c = twinctl(args);
  return new Promise((resolve, reject) =>
    execFile(c.file, c.args, { cwd: root, env: c.env, maxBuffer: 64 << 20 }, (e, out, err) =>
      e ? reject(new Error(`twinctl ${args.join(' ')}: ${err}`)) : resolve(out),
    ),
  );
}

/** k queue-free runner processes side by side over the same items: their combined rate. */
async function parallelRate(doc: unknown, k: number): Promise<number> {
  const lines = await Promise.all(
    Array.from(
      { length: k },
      (_, i) =>
        new Promise<{ items: number; start: number; end: number }>((resolve, reject) =>
          execFile(
            process.execPath,
            ['--conditions=kdump-twin-source', '-r', '@swc-node/register', join(__dirname, 'campaign-child.ts'), JSON.stringify(doc), String(k), String(i)],
            { cwd: root, env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.base.json') } },
            (e, out, err) => (e ? reject(new Error(`campaign-child: ${err}`)) : resolve(JSON.parse(out.trim().split('\n').pop()!))),
          ),
        ),
    ),
  );
  const items = lines.reduce((n, l) => n + l.items, 0);
  return items / ((Math.max(...lines.map((l) => l.end)) - Math.min(...lines.map((l) => l.start))) / 1000);
}

async function startWorkers(n: number, url: string): Promise<{ procs: ChildProcess[]; logs: string[] }> {
  const logs: string[] = Array.from({ length: n }, () => '');
  const procs = Array.from({ length: n }, (_, i) => {
    const c = twinctl(['campaign', 'worker', '--nats', url, '--name', `bench-${i}`]);
    const p = spawn(c.file, c.args, { cwd: root, env: c.env, stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (b: Buffer) => (logs[i] += b.toString()));
    return p;
  });
  const end = Date.now() + 120_000;
  while (!logs.every((l) => /ready/.test(l))) {
    if (Date.now() > end) throw new Error(`workers not ready: ${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { procs, logs };
}

async function stop(procs: readonly ChildProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => new Promise<void>((resolve) => (p.exitCode !== null ? resolve() : (p.once('exit', () => resolve()), p.kill('SIGTERM'))))));
}

export async function benchCampaign(workerCounts: readonly number[], seeds: number, cores: number): Promise<CampaignBench> {
  const base = JSON.parse(readFileSync(join(root, 'campaigns', 'ci-scale.json'), 'utf8')) as Record<string, unknown>;
  const docOf = (id: string) => ({ ...base, id, seeds: { from: 1, count: seeds } });
  const spec = parseCampaign(docOf('bench-baseline'));

  // Baseline: the same items in this process, one after another (a few first to warm the JIT).
  const runItem = (n: number) => runWorkItem(workItem(spec, n));
  for (let n = 0; n < Math.min(10, spec.total); n++) await runItem(n);
  const t0 = performance.now();
  for (let n = 0; n < spec.total; n++) await runItem(n);
  const baselineMs = performance.now() - t0;
  const baselineRunsPerSec = spec.total / (baselineMs / 1000);

  const nats = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), 'kdump-twin-bench-'));
  const rows: CampaignRow[] = [];
  const jetstreamPublishesPerSec = await jetstreamPublishRate(nats.url).catch(async (e: unknown) => {
    await nats.stop();
    throw e;
  });
  try {
    for (const k of workerCounts) {
      const id = `bench-w${k}`;
      const file = join(dir, `${id}.json`);
      writeFileSync(file, JSON.stringify(docOf(id)));
      const { procs } = await startWorkers(k, nats.url);
      try {
        const m = JSON.parse(await run(['campaign', 'run', file, '--nats', nats.url, '--json'])) as { done: number; errors: number };
        if (m.done !== spec.total || m.errors) throw new Error(`campaign ${id}: ${m.done}/${spec.total} done, ${m.errors} errors`);
        const s = JSON.parse(await run(['campaign', 'status', id, '--nats', nats.url, '--json'])) as { progress: { rate: number } };
        const rate = s.progress.rate;
        const ratio = rate / baselineRunsPerSec;
        await stop(procs);
        const parallel = await parallelRate(docOf(id), k);
        rows.push({
          workers: k,
          items: spec.total,
          runsPerSec: Number(rate.toFixed(1)),
          ratio: Number(ratio.toFixed(2)),
          efficiency: Number((ratio / Math.min(k, cores)).toFixed(2)),
          parallelRunsPerSec: Number(parallel.toFixed(1)),
          queueEfficiency: Number((rate / parallel).toFixed(2)),
        });
      } finally {
        await stop(procs);
      }
    }
  } finally {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    baselineRunsPerSec: Number(baselineRunsPerSec.toFixed(1)),
    baselineMeanRunMs: Number((baselineMs / spec.total).toFixed(1)),
    rows,
    jetstreamPublishesPerSec: Math.round(jetstreamPublishesPerSec),
  };
}
