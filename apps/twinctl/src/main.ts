// SPDX-License-Identifier: Apache-2.0
// The format commands (layout, decode, encode) load the architecture library only; the
// scenario and campaign commands, with the engine, gRPC, NATS and OpenTelemetry, are imported
// when one of them is asked for (a format command starts in about half the time).
import { run } from './cli';
import { SCENARIO_COMMANDS } from './usage';

async function main(argv: readonly string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  const traced = cmd !== undefined && (SCENARIO_COMMANDS.has(cmd) || cmd === 'campaign');
  // require, not import(): this is a CommonJS module, and swc-node resolves require of a .ts source.
  const r = traced ? await (require('./traced') as typeof import('./traced')).runTracedCommand(cmd, rest) : run(argv);
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  process.exitCode = r.code;
}

void main(process.argv.slice(2));
