#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Regenerates libs/shared/contracts/src/gen from proto/ with buf + ts-proto (local plugin, no
// network). With --check it generates into a scratch copy and fails on any difference, so CI
// catches a proto change committed without its generated code (or a hand edit of the output).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const out = join(root, 'libs/shared/contracts/src/gen');
const check = process.argv.includes('--check');
const bin = join(root, 'node_modules/.bin');

function run(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...env } });
  if (r.status !== 0) {
    console.error(`proto: ${cmd} ${args.join(' ')} failed (exit ${r.status})`);
    process.exit(1);
  }
}

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

const scratch = mkdtempSync(join(tmpdir(), 'kdump-twin-proto-'));
try {
  const cache = join(scratch, 'cache');
  const protoCopy = join(scratch, 'proto');
  cpSync(join(root, 'proto'), protoCopy, { recursive: true });
  const gen = join(scratch, 'gen');
  mkdirSync(gen);
  // The template writes relative to proto/; point it at the scratch output instead.
  const tpl = readFileSync(join(protoCopy, 'buf.gen.yaml'), 'utf8').replace(/out: .*/, `out: ${gen}`);
  writeFileSync(join(protoCopy, 'buf.gen.yaml'), tpl);
  run('buf', ['lint'], protoCopy, { BUF_CACHE_DIR: cache });
  run('buf', ['format', '-d', '--exit-code'], protoCopy, { BUF_CACHE_DIR: cache });
  run('buf', ['generate'], protoCopy, { BUF_CACHE_DIR: cache });
  const header = '// Code generated from proto/ by tools/proto/generate.mjs (buf + ts-proto). DO NOT EDIT.\n';
  for (const f of files(gen)) writeFileSync(f, header + readFileSync(f, 'utf8'));

  const fresh = new Map(files(gen).map((f) => [relative(gen, f), readFileSync(f, 'utf8')]));
  if (check) {
    const current = new Map(files(out).map((f) => [relative(out, f), readFileSync(f, 'utf8')]));
    const bad = [];
    for (const [k, v] of fresh) if (current.get(k) !== v) bad.push(current.has(k) ? `changed: ${k}` : `missing: ${k}`);
    for (const k of current.keys()) if (!fresh.has(k)) bad.push(`stale: ${k}`);
    if (bad.length) {
      console.error(`proto: generated code is out of date (${bad.join(', ')}); run npm run proto:gen and commit the result`);
      process.exit(1);
    }
    console.log(`proto: ${fresh.size} generated file(s) up to date`);
  } else {
    rmSync(out, { recursive: true, force: true });
    cpSync(gen, out, { recursive: true });
    console.log(`proto: wrote ${fresh.size} file(s) to ${relative(root, out)}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
