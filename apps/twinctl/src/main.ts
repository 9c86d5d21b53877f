// SPDX-License-Identifier: Apache-2.0
import { run } from './cli';
import { runScenarioCommand, SCENARIO_COMMANDS } from './scenarios';

async function main(argv: readonly string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  const r = cmd !== undefined && SCENARIO_COMMANDS.has(cmd) ? await runScenarioCommand(cmd, rest) : run(argv);
  if (r.stdout) process.stdout.write(r.stdout);
  if (r.stderr) process.stderr.write(r.stderr);
  process.exitCode = r.code;
}

void main(process.argv.slice(2));
