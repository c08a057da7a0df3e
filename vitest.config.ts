import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'hub-api/src/**/*.test.ts',
      'hub-api/test/**/*.test.ts',
      'functions/**/*.test.ts',
      'coreservice/**/*.test.ts',
      'examples/**/*.test.ts',
      'scripts/**/*.test.ts',
      'bench/**/*.test.ts',
      'site/src/**/*.test.ts',
      'site/test/**/*.test.ts',
      'infra/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Tests run the compiled `hub` (packages/cli/dist); build it first.
    globalSetup: ['packages/cli/test/global-setup.ts'],
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
});
