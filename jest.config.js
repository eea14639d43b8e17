/** Unit specs live beside the code; end-to-end specs in test/ run the built apps against a real database. */
const moduleNameMapper = {
  '^@app/(config|database|callback|mastodon|security|observability)(|/.*)$': '<rootDir>/libs/$1/src$2',
  '^@app/(api|listener)(|/.*)$': '<rootDir>/apps/$1/src$2',
};
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json', diagnostics: false }] };
// a mutation run's sandbox (.stryker-tmp) is a copy of the project: not part of this one
const modulePathIgnorePatterns = ['<rootDir>/.stryker-tmp/'];
const common = { testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'], moduleNameMapper, transform, modulePathIgnorePatterns };

module.exports = {
  testTimeout: 120_000,
  // Exit as soon as the run is reported: once, after every suite had closed its handles,
  // Node 20 spun at 100 % CPU in its own exit clean-up and never ended the process.
  forceExit: true,
  projects: [
    { ...common, displayName: 'unit', rootDir: __dirname, testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'e2e',
      rootDir: __dirname,
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
