// SPDX-License-Identifier: Apache-2.0
// The benchmark must keep running as the model changes: a tiny-scale run checks its shape and
// that both paths really take the path they claim (no timing assertions: BENCHMARKS.md holds
// the numbers).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchScale } from './scale';
import { benchTranslate } from './translate';
import { benchTracing } from './tracing';

describe('npm run bench -- translate', () => {
  it('reports hit and walk rates next to their floors', () => {
    const r = benchTranslate(0.005);
    for (const k of ['hit', 'walk'] as const) {
      assert.ok(r[k].opsPerSec > 0 && r[k].floorOpsPerSec > 0, k);
      assert.equal(r[k].ratio, Number((r[k].opsPerSec / r[k].floorOpsPerSec).toFixed(3)));
    }
  });
});

describe('npm run bench -- scale', () => {
  it('runs each size in a child process and reports per-device ratios against the smallest', () => {
    const rows = benchScale([2, 6]);
    assert.deepEqual(
      rows.map((r) => r.devices),
      [2, 6],
    );
    assert.equal(rows[0]!.timeRatio, 1);
    assert.equal(rows[0]!.memoryRatio, 1);
    for (const r of rows) assert.ok(r.wallMs > 0 && r.maxRssMiB > 0 && r.transactions > 0);
  });
});

describe('npm run bench -- tracing', () => {
  it('times untraced, default-ratio and always_on runs of one scenario, exports spans for the traced ones, same report each time', async () => {
    const rows = await benchTracing('S10c-bad-strtab-fmt', 'adopt-v7', { rounds: 1 });
    assert.deepEqual(
      rows.map((r) => r.setting),
      ['untraced', 'ratio 0.001', 'always_on'],
    );
    assert.equal(rows[0]!.spans, 0);
    assert.equal(rows[0]!.ratio, 1);
    assert.ok(rows[1]!.spans > 0 && rows[2]!.spans > rows[1]!.spans, `${rows[1]!.spans} / ${rows[2]!.spans} spans`);
    for (const r of rows) assert.ok(r.sameReport && r.ms > 0, r.setting);
  });
});
