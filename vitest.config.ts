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
    // expect.poll waits for a state that comes eventually (a search result in Chromium, a line a
    // child prints): bounded by this, not by how loaded the machine is (the default is 1 s).
    expect: { poll: { timeout: 20_000, interval: 50 } },
    pool: 'forks',
    // Tests run the compiled `hub` (packages/cli/dist); build it first.
    globalSetup: ['packages/cli/test/global-setup.ts'],
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
});
