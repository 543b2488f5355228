import type { Config } from 'jest';

const config: Config = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Model tests load wasm and run real forward passes; give them room on a 2-core machine.
  testTimeout: 120000,
  setupFiles: ['<rootDir>/test/helpers/fast-check-seed.ts'],
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }],
  },
};

export default config;
