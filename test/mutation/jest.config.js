/**
 * The tests Stryker runs against a module's mutants: the files listed for the
 * module in modules.mjs (MUTATION_TESTS, set by stryker.config.mjs), unit specs
 * and end-to-end files that import the code directly (the repositories on a
 * real database).
 */
const path = require('node:path');
const base = require('../../jest.config.js');
const unit = base.projects.find((project) => project.displayName === 'unit');
const e2e = base.projects.find((project) => project.displayName === 'e2e');

const tests = JSON.parse(process.env.MUTATION_TESTS ?? '[]');
// the database of the end-to-end files (DB_*, or an embedded one started for each run)
const database = tests.some((glob) => glob.startsWith('test/'))
  ? { globalSetup: e2e.globalSetup, globalTeardown: e2e.globalTeardown }
  : {};

module.exports = {
  ...unit,
  ...database,
  displayName: 'mutation',
  rootDir: path.resolve(__dirname, '../..'),
  testTimeout: base.testTimeout,
  testMatch: tests.map((glob) => `<rootDir>/${glob}`),
  // each mutant's run loads only the files that hold the tests covering it, and stops at the first that fails
  runner: require.resolve('./covering-files-runner.js'),
};
