// SPDX-License-Identifier: Apache-2.0
// No import cycles among the workspace's source files, type-only imports included (madge over
// libs, apps and tools). Cycles between projects are the boundary rule's business
// (@nx/enforce-module-boundaries); this finds the ones inside a project, which it does not see.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import madge from 'madge';

const root = join(__dirname, '..', '..');

async function cycles(dirs: readonly string[]): Promise<{ files: number; circular: string[][] }> {
  const res = await madge([...dirs], {
    baseDir: root,
    fileExtensions: ['ts'],
    tsConfig: join(root, 'tsconfig.base.json'),
    // Type-only imports count: a type cycle is still two files that cannot be read one at a time.
    detectiveOptions: { ts: { skipTypeImports: false }, tsx: { skipTypeImports: false } },
    excludeRegExp: [/\.spec\.ts$/, /[\\/]dist[\\/]/, /node_modules/, /[\\/]gen[\\/]/],
  });
  return { files: Object.keys(res.obj()).length, circular: res.circular() };
}

describe('import cycles', () => {
  it('there are none in libs, apps and tools', async () => {
    const r = await cycles(['libs', 'apps', 'tools'].map((d) => join(root, d)));
    assert.ok(r.files > 150, `the graph covers the workspace (${r.files} files)`);
    assert.deepEqual(r.circular, [], `import cycles:\n${r.circular.map((c) => c.join(' -> ')).join('\n')}`);
  });

  it('finds one when there is one, type-only imports included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cycle-'));
    try {
      writeFileSync(join(dir, 'a.ts'), "import type { B } from './b';\nexport interface A { b?: B }\n");
      writeFileSync(join(dir, 'b.ts'), "import { type A } from './a';\nexport interface B { a?: A }\n");
      writeFileSync(join(dir, 'c.ts'), "import type { A } from './a';\nexport const c: A = {};\n");
      const r = await cycles([dir]);
      assert.deepEqual(
        r.circular.map((c) => c.map((f) => basename(f))),
        [['a.ts', 'b.ts']],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
