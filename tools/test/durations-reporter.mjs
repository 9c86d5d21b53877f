// SPDX-License-Identifier: Apache-2.0
// A node:test reporter that writes one JSON line per spec file: its path, its wall time and
// whether it passed. The runner (run-all.mjs) reads them after the run to print every file's
// duration and to fail a file that used more than half of its timeout.
// Node 20 reports each file of a process-isolated run as a nesting-0 `test:complete` whose name
// is the file's own path; its duration is the child process's wall time, hooks and imports
// included, which is what the file timeout (--test-timeout) is held against.
// It also counts the tests (suites left out, skipped and todo tests apart, a file that failed
// outside its tests as one failure) so that the runner can close with one plain
// 'N passed, N failed' line after its table.
export default async function* durations(source) {
  const count = { passed: 0, failed: 0, skipped: 0 };
  for await (const event of source) {
    const { name, file, nesting, details, skip, todo } = event.data ?? {};
    const ofFile = nesting === 0 && file && name === file;
    if (event.type === 'test:complete' && ofFile) {
      yield `${JSON.stringify({ file, ms: details.duration_ms, passed: details.passed })}\n`;
    } else if (event.type === 'test:fail' && ofFile) {
      // Node reports a file itself only when the file failed outside its tests: it timed out,
      // crashed or exited non-zero. That is one failure whatever its tests said.
      count.failed++;
    } else if ((event.type === 'test:pass' || event.type === 'test:fail') && !ofFile && details.type !== 'suite') {
      if (skip !== undefined || todo !== undefined) count.skipped++;
      else if (event.type === 'test:pass') count.passed++;
      else count.failed++;
    }
  }
  yield `${JSON.stringify({ count })}\n`;
}
