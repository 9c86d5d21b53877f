// SPDX-License-Identifier: Apache-2.0
// The benchmark must keep running as the model changes: a tiny-scale run checks its shape and
// that both paths really take the path they claim (no timing assertions: BENCHMARKS.md holds
// the numbers).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchTranslate } from './translate';

describe('npm run bench -- translate', () => {
  it('reports hit and walk rates next to their floors', () => {
    const r = benchTranslate(0.005);
    for (const k of ['hit', 'walk'] as const) {
      assert.ok(r[k].opsPerSec > 0 && r[k].floorOpsPerSec > 0, k);
      assert.equal(r[k].ratio, Number((r[k].opsPerSec / r[k].floorOpsPerSec).toFixed(3)));
    }
  });
});
