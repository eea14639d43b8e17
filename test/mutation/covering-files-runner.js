/**
 * Jest's test runner, made to run only the test files a mutant's tests live in,
 * and to stop at the first file that fails.
 *
 * For each mutant, Stryker's Jest runner starts Jest over every test file of the
 * module and selects the tests that cover the mutant by name (testNamePattern).
 * Jest still loads each file, and a file here imports TypeORM or NestJS (about
 * half a second each, and a database of its own for a `test/database` file), for
 * files none of whose tests run. And Jest runs every file even once a test has
 * failed, because Stryker cannot ask it to bail.
 *
 * This runner learns which tests each file holds from the run that selects no
 * tests (Stryker's first run over everything, before any mutant), and from then
 * on leaves out the files that hold none of the selected tests. A file it has
 * not seen is always run. It runs the files one by one and, once one has a
 * failing test (the mutant is killed), does not start the next: what Stryker's
 * own bail (`disableBail: false`) means.
 */
const { writeFileSync, readFileSync, existsSync } = require('node:fs');
const path = require('node:path');
const TestRunner = require('jest-runner').default;

/** where the first run leaves the tests of each file: in Stryker's sandbox, removed with it */
const indexFile = (globalConfig) => path.join(globalConfig.rootDir, '.stryker-test-files.json');

/** test file → full names of its tests (describe titles and test title), kept per process */
let testsOfFile;

function readIndex(globalConfig) {
  if (testsOfFile === undefined && existsSync(indexFile(globalConfig)))
    testsOfFile = new Map(Object.entries(JSON.parse(readFileSync(indexFile(globalConfig), 'utf8'))));
  return testsOfFile;
}

class CoveringFilesRunner extends TestRunner {
  async runTests(tests, watcher, options) {
    // outside a Stryker run (its workers carry STRYKER_MUTATOR_WORKER), Jest's own runner as it is
    if (process.env.STRYKER_MUTATOR_WORKER === undefined) return super.runTests(tests, watcher, options);
    const pattern = this._globalConfig.testNamePattern;
    if (!pattern) return this.runAllAndIndex(tests, watcher, options);
    const index = readIndex(this._globalConfig);
    // the pattern and its flag as jest-circus matches a test's full name with it
    const selected = new RegExp(pattern, 'i');
    const holding = tests.filter((test) => {
      const names = index?.get(test.path);
      return names === undefined || names.some((name) => selected.test(name));
    });
    return this.runUntilAFileFails(holding, watcher, options);
  }

  async runUntilAFileFails(tests, watcher, options) {
    let failed = false;
    const unsubscribeSuccess = this.on('test-file-success', ([, result]) => {
      if (result.numFailingTests > 0 || result.testExecError != null) failed = true;
    });
    const unsubscribeFailure = this.on('test-file-failure', () => {
      failed = true;
    });
    try {
      for (const test of tests) {
        if (failed || watcher.isInterrupted()) break;
        await super.runTests([test], watcher, options);
      }
    } finally {
      unsubscribeSuccess();
      unsubscribeFailure();
    }
  }

  async runAllAndIndex(tests, watcher, options) {
    const seen = {};
    const unsubscribe = this.on('test-file-success', ([test, result]) => {
      seen[test.path] = result.testResults.map((testResult) => testResult.fullName);
    });
    try {
      await super.runTests(tests, watcher, options);
    } finally {
      unsubscribe();
    }
    // a file that failed to run is not in the index, so it is always run
    writeFileSync(indexFile(this._globalConfig), JSON.stringify(seen));
    testsOfFile = new Map(Object.entries(seen));
  }
}

module.exports = CoveringFilesRunner;
