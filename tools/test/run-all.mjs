#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// `npm test`: workspace checks (lint, typecheck, proto regenerate-and-diff), then every
// *.spec.ts under apps/, libs/ and tools/ in one node:test run, so the runner's summary
// (# tests / # pass / # fail) covers the whole repository. With directory arguments
// (`node tools/test/run-all.mjs libs/smmu/arch`) it runs only those specs and skips the checks:
// that is each project's `test` target.
// No --test-force-exit: on Node 20 it let the runner finish before a spec file's output was
// parsed (a whole suite was missing from the summary); tests must close their own handles.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const dirs = process.argv.slice(2);
const bin = join(root, 'node_modules/.bin');
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', SWC_NODE_PROJECT: join(root, 'tsconfig.base.json') };

function step(title, cmd, args) {
  console.log(`\n== ${title}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) {
    console.error(`\n${title} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function specs(dir) {
  if (dir.endsWith('.spec.ts') && statSync(dir).isFile()) return [dir];
  return readdirSync(dir).flatMap((n) => {
    if (n === 'node_modules' || n === 'dist' || n.startsWith('.')) return [];
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return specs(p);
    return n.endsWith('.spec.ts') ? [p] : [];
  });
}

if (dirs.length === 0) {
  step('lint and typecheck (nx)', 'nx', ['run-many', '-t', 'lint', 'typecheck', '--outputStyle=static', '--skip-nx-cache']);
  step('proto: buf lint, format and regenerate-and-diff', 'node', [join(root, 'tools/proto/generate.mjs'), '--check']);
  step('telemetry registry: regenerate-and-diff', 'node', [join(root, 'tools/telemetry/generate.mjs'), '--check']);
}
const roots = dirs.length ? dirs.map((d) => join(root, d)) : ['apps', 'libs', 'tools'].map((d) => join(root, d));
const files = roots.flatMap(specs).map((f) => relative(root, f)).sort();
if (files.length === 0) {
  console.error(`no *.spec.ts found under ${roots.map((r) => relative(root, r)).join(', ')}`);
  process.exit(1);
}
console.log(`\n== tests: ${files.length} spec file(s)`);
const r = spawnSync(
  process.execPath,
  ['--conditions=kdump-twin-source', '-r', '@swc-node/register', '--test', '--test-timeout=300000', '--test-reporter=tap', ...files],
  { cwd: root, stdio: 'inherit', env },
);
process.exit(r.status ?? 1);
