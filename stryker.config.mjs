// Mutation testing, one module at a time: `npm run test:mutation [-- module …]`
// (test/mutation/run.mjs sets MUTATION_MODULE; needs the DB_* variables of a real
// database, as `npm test` does). See README, Mutation testing.
import { MODULES } from './test/mutation/modules.mjs';

const name = process.env.MUTATION_MODULE;
const selected = MODULES[name];
if (!selected) throw new Error(`MUTATION_MODULE must be one of ${Object.keys(MODULES).join(', ')}`);
// read by test/mutation/jest.config.js in the test runner processes
process.env.MUTATION_TESTS = JSON.stringify(selected.tests);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { projectType: 'custom', configFile: 'test/mutation/jest.config.js', enableFindRelatedTests: false },
  checkers: ['typescript-undelayed'],
  plugins: ['@stryker-mutator/*', './test/mutation/ignore-log-calls.mjs', './test/mutation/typescript-checker-undelayed.mjs'],
  ignorers: ['log-calls'],
  tsconfigFile: 'tsconfig.mutation.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  // a static mutant (a constant evaluated when its module loads) runs every test, minutes each
  // here: left out of the score; the tests of those constants stay in the suites
  ignoreStatic: true,
  // Stryker gives half of these to type checkers, half to test runners, and all to test runners
  // once checking is done: 4 keeps both cores of the machine this is measured on busy. Lower it
  // where the machine is shared with other work (MUTATION_CONCURRENCY=2)
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 4),
  // beyond the run's own time: a mutant that hangs costs this much, and a test here takes well under it
  timeoutMS: 5_000,
  mutate: [...selected.mutate, '!**/*.spec.ts', '!**/index.ts'],
  ignorePatterns: ['dist', 'data', 'coverage', 'reports', 'bench/results', '.stryker-tmp'],
  incremental: true,
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
