// SPDX-License-Identifier: Apache-2.0
// `npm run bench -- scale`: the scale scenario (a full 16-bit 2-level stream table, devices on
// all 256 buses) at several device counts, each in a child process; run time and peak memory
// per device, each as a ratio to the smallest count measured in the same run.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export interface ScaleRow {
  readonly devices: number;
  readonly wallMs: number;
  readonly maxRssMiB: number;
  readonly heapMiB: number;
  readonly transactions: number;
  readonly msPerDevice: number;
  readonly kibPerDevice: number;
  /** msPerDevice / the smallest run's msPerDevice. */
  readonly timeRatio: number;
  /** kibPerDevice / the smallest run's kibPerDevice. */
  readonly memoryRatio: number;
}

const root = join(__dirname, '..', '..');

function once(devices: number): Omit<ScaleRow, 'msPerDevice' | 'kibPerDevice' | 'timeRatio' | 'memoryRatio'> {
  const r = spawnSync(process.execPath, ['--conditions=kdump-twin-source', '-r', '@swc-node/register', join(__dirname, 'scale-child.ts'), String(devices)], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, SWC_NODE_PROJECT: join(root, 'tsconfig.base.json') },
    maxBuffer: 16 << 20,
  });
  if (r.status !== 0) throw new Error(`scale run with ${devices} devices failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  if (!j.ok) throw new Error(`scale run with ${devices} devices did not adopt, map the dump target's L2 table and save the vmcore`);
  return j;
}

export function benchScale(sizes: readonly number[]): ScaleRow[] {
  const runs = [...sizes].sort((a, b) => a - b).map(once);
  const base = runs[0]!;
  const per = (r: typeof base) => ({ ms: r.wallMs / r.devices, kib: (r.maxRssMiB * 1024) / r.devices });
  const b = per(base);
  return runs.map((r) => {
    const p = per(r);
    return {
      ...r,
      msPerDevice: Number(p.ms.toFixed(2)),
      kibPerDevice: Math.round(p.kib),
      timeRatio: Number((p.ms / b.ms).toFixed(2)),
      memoryRatio: Number((p.kib / b.kib).toFixed(2)),
    };
  });
}
