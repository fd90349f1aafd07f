/**
 * Unit tests sit beside the code (src/**\/*.test.ts); suites that need servers live in test/.
 * The global set-up starts the HAPI FHIR sandbox once per run; KAP_UNIT_ONLY=1 (npm run test:unit)
 * skips it for a quick run of the unit tests alone.
 */
const withServers = !process.env.KAP_UNIT_ONLY;

export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true }] },
  testMatch: ['<rootDir>/src/**/*.test.ts', ...(withServers ? ['<rootDir>/test/**/*.test.ts'] : [])],
  ...(withServers
    ? { globalSetup: '<rootDir>/test/global-setup.mjs', globalTeardown: '<rootDir>/test/global-teardown.mjs' }
    : {}),
  setupFiles: ['<rootDir>/test/env.cjs'],
  testTimeout: 30000,
  maxWorkers: 2,
};
