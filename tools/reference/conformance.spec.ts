// SPDX-License-Identifier: Apache-2.0
// The twin held against real Linux: every committed recording (tools/reference/recordings)
// against the twin running the scenario that describes the recorded machine. Each aspect's
// score is printed; every difference must be explained in docs/fidelity.md, and everything
// docs/fidelity.md explains must still be a difference (a fixed difference leaves the list).
// Nothing expected here comes from the twin: the recordings are QEMU's trace of real kernels.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compare, scoreTable } from './compare';
import { dmesgFilter } from './convert';
import { loadRecipe, streamIdOf } from './recipe';
import { RECORDING_FORMAT, type Recording } from './recording';
import { loadScenario, runTwin } from './twin';

const here = __dirname;
const FIDELITY = join(here, '..', '..', 'docs', 'fidelity.md');

/** The differences docs/fidelity.md explains for one recipe: the first cell of each table row under `## <recipe>`. */
export function explained(markdown: string, recipe: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## Recording \`${recipe}\``);
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (/^## /.test(l)) break;
    const m = /^\| `([^`]+)` \|/.exec(l);
    if (m) out.push(m[1]!);
  }
  return out;
}

const recordings = readdirSync(join(here, 'recordings'))
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('conformance: the twin against real Linux 6.12 on QEMU', () => {
  it('has the recordings the issue asks for', () => {
    assert.deepEqual(recordings, ['late-driver.json', 'lazy-dma.json', 'status-quo-acpi.json', 'status-quo-dma.json']);
  });

  it('is not vacuous: a recording that differs from the twin is caught, aspect by aspect', async () => {
    const rec = JSON.parse(readFileSync(join(here, 'recordings', 'status-quo-dma.json'), 'utf8')) as Recording;
    const twin = await runTwin(
      loadScenario('status-quo-dma'),
      rec.recipe.devices.map((d) => ({ name: d.name, sid: streamIdOf(d) })),
      dmesgFilter(rec.recipe),
    );
    const base = new Set(compare(rec, twin).aspects.flatMap((a) => a.differences));
    const k = rec.kernels.kdump;
    const cr1 = k.probe.mmio.findIndex((a) => a.register === 'CR1');
    const mutated: Recording = {
      ...rec,
      kernels: {
        ...rec.kernels,
        kdump: {
          ...k,
          probe: {
            mmio: k.probe.mmio.map((a, i) => (i === cr1 ? { ...a, value: '0xd74' } : a)).filter((a) => a.register !== 'CR2'),
            commandBatches: k.probe.commandBatches.slice(1),
          },
          dmesg: [...k.dmesg, 'arm-smmu-v3 9050000.smmuv3: a line the twin never prints'],
        },
      },
    };
    const found = compare(mutated, twin)
      .aspects.flatMap((a) => a.differences)
      .filter((d) => !base.has(d));
    assert.deepEqual(found.sort(), [
      'kdump dmesg: Linux prints "arm-smmu-v3 <smmu>: a line the twin never prints", the twin does not',
      'kdump probe commands: the twin issues [CFGI_STE_RANGE(0x0-0xffffffff),CMD_SYNC], Linux does not',
      'kdump values: CR1.QUEUE_IC Linux 0, twin 1',
      'kdump write-order: the twin writes CR2, Linux does not',
    ]);
  });

  it('reads the explained differences of one recording from docs/fidelity.md', () => {
    const md = '## Recording `a`\n| difference | why |\n|---|---|\n| `x: y` | z |\n## Recording `b`\n| `w` | v |\n';
    assert.deepEqual([explained(md, 'a'), explained(md, 'b'), explained(md, 'c')], [['x: y'], ['w'], []]);
  });

  for (const file of recordings) {
    const name = file.replace(/\.json$/, '');
    it(`${name}: every difference is explained in docs/fidelity.md, and only those`, async () => {
      const rec = JSON.parse(readFileSync(join(here, 'recordings', file), 'utf8')) as Recording;
      assert.equal(rec.format, RECORDING_FORMAT);
      assert.deepEqual(rec.recipe, loadRecipe(join(here, 'recipes', file)), 'the recording was made from the committed recipe');
      const twin = await runTwin(
        loadScenario(name),
        rec.recipe.devices.map((d) => ({ name: d.name, sid: streamIdOf(d) })),
        dmesgFilter(rec.recipe),
      );
      const c = compare(rec, twin);
      console.log(scoreTable(c));
      const found = c.aspects.flatMap((a) => a.differences);
      const listed = explained(readFileSync(FIDELITY, 'utf8'), name);
      const unexplained = found.filter((d) => !listed.includes(d));
      const fixed = listed.filter((d) => !found.includes(d));
      assert.deepEqual(
        unexplained,
        [],
        `differences from real Linux that docs/fidelity.md does not explain (## Recording \`${name}\`):\n${unexplained.join('\n')}`,
      );
      assert.deepEqual(fixed, [], `docs/fidelity.md explains differences that are gone (remove them):\n${fixed.join('\n')}`);
      // The comparison is not vacuous: each kernel's probe was seen on both sides.
      for (const k of ['primary', 'kdump'] as const) {
        assert.ok(rec.kernels[k].probe.mmio.length > 20, `${name}: the recording has ${k}'s probe`);
        assert.ok(twin.kernels[k].probe.mmio.length > 20, `${name}: the twin ran ${k}'s probe`);
      }
    });
  }
});
