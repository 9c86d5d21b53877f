#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// `npm test`: workspace checks (lint, typecheck, proto regenerate-and-diff), then every
// *.spec.ts under apps/, libs/ and tools/ in one node:test run, so the runner's summary
// (# tests / # pass / # fail) covers the whole repository. With directory arguments
// (`node tools/test/run-all.mjs libs/smmu/arch`) it runs only those specs and skips the checks:
// that is each project's `test` target.
// No --test-force-exit: on Node 20 it let the runner finish before a spec file's output was
// parsed (a whole suite was missing from the summary); tests must close their own handles.
// Every file runs under one timeout (FILE_TIMEOUT_MS, the runner's --test-timeout, which node
// holds against each file's process as well as each test). After the run it prints each file's
// wall time, slowest first, and fails the run when a file used more than half of that timeout:
// a file creeping towards its timeout is caught before it times out on a slower machine.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const FILE_TIMEOUT_MS = 300_000;
const BUDGET_MS = FILE_TIMEOUT_MS / 2;

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
const files = roots
  .flatMap(specs)
  .map((f) => relative(root, f))
  .sort();
if (files.length === 0) {
  console.error(`no *.spec.ts found under ${roots.map((r) => relative(root, r)).join(', ')}`);
  process.exit(1);
}
console.log(`\n== tests: ${files.length} spec file(s)`);
const scratch = mkdtempSync(join(tmpdir(), 'kdump-twin-test-'));
const timings = join(scratch, 'durations.jsonl');
const started = Date.now();
const r = spawnSync(
  process.execPath,
  [
    '--conditions=kdump-twin-source',
    '-r',
    '@swc-node/register',
    '--test',
    `--test-timeout=${FILE_TIMEOUT_MS}`,
    '--test-reporter=tap',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(import.meta.dirname, 'durations-reporter.mjs')}`,
    `--test-reporter-destination=${timings}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env },
);
const wall = Date.now() - started;
let rows = [];
let count;
try {
  const lines = readFileSync(timings, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  rows = lines.filter((l) => l.file);
  count = lines.find((l) => l.count)?.count;
} catch (e) {
  console.error(`durations: could not read the reporter's output (${e.message})`);
}
rmSync(scratch, { recursive: true, force: true });
rows.sort((a, b) => b.ms - a.ms);
const sec = (ms) => (ms / 1000).toFixed(1).padStart(7);
console.log(`\n== durations per spec file, slowest first (timeout ${FILE_TIMEOUT_MS / 1000} s a file, budget half of it: ${BUDGET_MS / 1000} s)`);
for (const t of rows) console.log(`${sec(t.ms)} s  ${t.passed ? 'ok  ' : 'FAIL'}  ${relative(root, t.file)}`);
console.log(`${sec(wall)} s  all ${files.length} files`);
const missing = files.filter((f) => !rows.some((t) => relative(root, t.file) === f));
if (missing.length) console.error(`durations: no timing reported for ${missing.join(', ')}`);
const over = rows.filter((t) => t.ms > BUDGET_MS);
for (const t of over) {
  console.error(
    `${relative(root, t.file)} took ${(t.ms / 1000).toFixed(1)} s, more than half of its ${FILE_TIMEOUT_MS / 1000} s timeout: make it cheaper or split it before it times out on a slower machine`,
  );
}
if (count) console.log(`\ntests: ${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped`);
if (r.status !== 0) process.exit(r.status ?? 1);
process.exit(over.length || missing.length ? 1 : 0);
