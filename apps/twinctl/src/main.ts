// SPDX-License-Identifier: Apache-2.0
import { run } from './cli';

const r = run(process.argv.slice(2));
if (r.stdout) process.stdout.write(r.stdout);
if (r.stderr) process.stderr.write(r.stderr);
process.exitCode = r.code;
