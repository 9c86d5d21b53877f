// SPDX-License-Identifier: Apache-2.0
// twinctl scenarios | run | matrix end to end: the npm bin as a real process, its output,
// exit codes, byte-identical JSON for the same arguments, and errors that name the key.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(__dirname, '..', '..', '..');
const bin = join(root, 'node_modules', '.bin', 'twinctl');

function twinctl(...args: string[]) {
  const r = spawnSync(bin, args, { cwd: root, encoding: 'utf8', env: { ...process.env, TWINCTL_FROM_SOURCE: '1' }, maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('twinctl scenarios', () => {
  it('lists the catalogue with one line of purpose each; --json carries the version and predicted policies', () => {
    const r = twinctl('scenarios');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^\* baseline +healthy server/m);
    assert.match(r.out, /S12-sfm-active +GERROR\.SFM_ERR is active/);
    const j = JSON.parse(twinctl('scenarios', '--json').out);
    assert.match(j.catalogueVersion, /^\d+\.\d+\.\d+$/);
    const s12 = j.scenarios.find((s: { id: string }) => s.id === 'S12-sfm-active');
    assert.deepEqual(s12.policies, ['adopt-v7', 'adopt-v10']);
  });
});

describe('twinctl run', () => {
  it('prints the report of a catalogue scenario, with its prediction checked', () => {
    const r = twinctl('run', 'S10c-bad-strtab-fmt', '--policy', 'adopt', '--series', 'v7');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /scenario S10c-bad-strtab-fmt v1 {2}policy adopt-v7/);
    assert.match(r.out, /adoption: fell back \(kdump: invalid STRTAB format 2\)/);
    assert.match(r.out, /prediction: MET/);
    assert.match(r.out, /kdump: falling back to full reset/);
  });

  it('--json is byte-identical for the same arguments and seed', () => {
    const args = ['run', 'S10a-corrupt-page-table', '--policy', 'adopt-v10', '--seed', '5', '--json'];
    const a = twinctl(...args);
    const b = twinctl(...args);
    assert.equal(a.code, 0, a.err);
    assert.equal(a.out, b.out);
    const r = JSON.parse(a.out);
    assert.equal(r.policy, 'adopt-v10');
    assert.equal(r.seed, 5);
    assert.equal(r.prediction.met, true);
  });

  it('--set changes any key; a prediction that no longer holds exits 3', () => {
    // With the NIC's page table intact, nothing faults: the S10a prediction fails.
    const r = twinctl('run', 'S10a-corrupt-page-table', '--set', 'injections=[]', '--json');
    assert.equal(r.code, 3, r.err);
    assert.equal(JSON.parse(r.out).prediction.met, false);
  });

  it('runs a scenario file; bad input names the key and exits 1; bad usage exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinctl-'));
    try {
      const file = join(dir, 'mine.json');
      writeFileSync(
        file,
        JSON.stringify({ id: 'mine', devices: [{ kind: 'nvme', name: '0000:02:00.0' }], kdump: { policy: 'status-quo' }, run: { endAfterKdumpNs: 3_000_000 } }),
      );
      const ok = twinctl('run', file, '--json');
      assert.equal(ok.code, 0, ok.err);
      assert.equal(JSON.parse(ok.out).scenario, 'mine');
      writeFileSync(file, JSON.stringify({ id: 'mine', devices: [{ kind: 'nvme', name: '0000:02:00.0', traffic: { outstandng: 3 } }] }));
      const bad = twinctl('run', file);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /devices\[0\]\.traffic\.outstandng: unknown key/);
      writeFileSync(file, '{ not json');
      assert.match(twinctl('run', file).err, /not JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const range = twinctl('run', 'baseline', '--set', 'crash.kexecDelayNs=-5');
    assert.equal(range.code, 1);
    assert.match(range.err, /crash\.kexecDelayNs: must be in \[0, /);
    assert.equal(twinctl('run', 'no-such-scenario').code, 1);
    assert.equal(twinctl('run', 'baseline', '--policy', 'adopt-v8').code, 2);
    assert.equal(twinctl('run', 'baseline', '--series', 'v9').code, 2);
    assert.equal(twinctl('run').code, 2);
  });
});

describe('twinctl matrix', () => {
  it('prints the policy-by-scenario table; --json has a row per run', () => {
    const r = twinctl('matrix', 'S2-non-coherent-smmu', 'S10c-bad-split', '--policies', 'status-quo,adopt-v7');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.match(
      lines[0]!,
      /^scenario +policy +adoption +in-flight ok +bypassed +aborted +AER c\/nf\/f +kdump panic +corrupted +stale DMA +vmcore +prediction$/,
    );
    assert.equal(lines.length, 2 + 4);
    assert.match(r.out, /S10c-bad-split +adopt-v7 +fell back/);
    const rows = JSON.parse(twinctl('matrix', 'S10c-bad-split', '--policies', 'adopt-v7,adopt-v10', '--json').out);
    assert.deepEqual(
      rows.map((x: { policy: string; adopted: boolean }) => [x.policy, x.adopted]),
      [
        ['adopt-v7', false],
        ['adopt-v10', false],
      ],
    );
    assert.equal(twinctl('matrix', '--policies', 'adopt-v11').code, 2);
  });
});
