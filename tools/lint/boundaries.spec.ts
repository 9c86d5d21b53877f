// SPDX-License-Identifier: Apache-2.0
// The lint rules that keep models pure must actually fire: lint code placed (virtually) inside
// the projects and expect the boundary, external-import and wall-clock rules to reject it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ESLint } from 'eslint';

const root = join(__dirname, '..', '..');
let eslint: ESLint;

async function messages(file: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(root, file) });
  return r!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('module boundaries and purity rules', () => {
  before(() => {
    process.env['NX_DAEMON'] = 'false';
    eslint = new ESLint({ cwd: root });
  });

  it('accepts the architecture library as it is written', async () => {
    const m = await messages('libs/smmu/arch/src/lib/probe-ok.ts', "import { STE } from './tables';\nexport const v = STE.name;\n");
    assert.deepEqual(m, []);
  });

  it('rejects an app import from a codec library', async () => {
    const m = await messages('libs/smmu/arch/src/lib/probe-app.ts', "import { run } from '@kdump-twin/twinctl';\nexport const r = run;\n");
    assert.ok(
      m.some((x) => x.startsWith('@nx/enforce-module-boundaries')),
      m.join('\n'),
    );
  });

  for (const pkg of ['@nestjs/common', 'nats', '@grpc/grpc-js', '@opentelemetry/api']) {
    it(`rejects ${pkg} in a codec library`, async () => {
      const m = await messages('libs/smmu/arch/src/lib/probe-ext.ts', `import * as x from '${pkg}';\nexport const y = x;\n`);
      assert.ok(
        m.some((x) => x.startsWith('no-restricted-imports') || x.startsWith('@nx/enforce-module-boundaries')),
        `no boundary error for ${pkg}: ${m.join('\n')}`,
      );
    });
  }

  it('rejects the contracts library importing anything of the workspace', async () => {
    const m = await messages('libs/shared/contracts/src/probe.ts', "import { STE } from '@kdump-twin/smmu-arch';\nexport const s = STE;\n");
    assert.ok(
      m.some((x) => x.startsWith('@nx/enforce-module-boundaries')),
      m.join('\n'),
    );
  });

  it('rejects the wall clock and Math.random in libraries', async () => {
    const m = await messages('libs/smmu/arch/src/lib/probe-clock.ts', 'export const t = Date.now() + Math.random() + new Date().getTime();\n');
    assert.equal(m.filter((x) => x.startsWith('no-restricted-properties')).length, 2, m.join('\n'));
    assert.equal(m.filter((x) => x.startsWith('no-restricted-syntax')).length, 1, m.join('\n'));
  });

  it('lets an app use the wall clock', async () => {
    const m = await messages('apps/twinctl/src/probe-clock.ts', 'export const t = Date.now();\n');
    assert.deepEqual(m, []);
  });
});
