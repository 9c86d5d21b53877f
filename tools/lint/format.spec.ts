// SPDX-License-Identifier: Apache-2.0
// Every tracked TypeScript and JavaScript file is as Prettier formats it (.prettierrc.json:
// single quotes, 160 columns; .prettierignore: generated code, which its own regenerate-and-diff
// step checks, and documents). `npm run format` rewrites them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as prettier from 'prettier';

const root = join(__dirname, '..', '..');

async function unformatted(): Promise<{ checked: number; bad: string[] }> {
  const files = execFileSync('git', ['ls-files', '*.ts', '*.mjs', '*.js'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
  const bad: string[] = [];
  let checked = 0;
  for (const f of files) {
    const path = join(root, f);
    const info = await prettier.getFileInfo(path, { ignorePath: join(root, '.prettierignore') });
    if (info.ignored) continue;
    const options = await prettier.resolveConfig(path);
    checked++;
    if (!(await prettier.check(readFileSync(path, 'utf8'), { ...options, filepath: path }))) bad.push(f);
  }
  return { checked, bad };
}

describe('formatting', () => {
  it('every tracked source file is formatted (npm run format)', async () => {
    const r = await unformatted();
    assert.ok(r.checked > 200, `the check saw the workspace (${r.checked} files)`);
    assert.deepEqual(r.bad, [], `not formatted; run npm run format:\n${r.bad.join('\n')}`);
  });

  it('the check tells a misformatted file from a formatted one, with the workspace settings', async () => {
    const options = { ...(await prettier.resolveConfig(join(root, 'libs', 'x.ts'))), filepath: join(root, 'libs', 'x.ts') };
    assert.equal(options.printWidth, 160);
    assert.equal(await prettier.check('const a = { b: 1 };\n', options), true);
    assert.equal(await prettier.check('const a = {b:1}\n', options), false);
    assert.equal(await prettier.check('const a = "b";\n', options), false, 'single quotes');
  });
});
