// Every finding code's fixture in one table (finding-codes.test.ts runs them all; pr-rules.test.ts
// checks that each code a pull-request rule declares is among them).
import type { FindingCode } from '../../src/finding-codes';
import { archiveFixtures, zipFixtures } from './archives';
import {
  catalogFixtures,
  entryFixtures,
  maintainersFixtures,
  ownersFixtures,
  pathFixtures,
  yamlFixtures,
} from './catalog';
import { cleanUp, type Fixture } from './fixture';
import {
  buildFixtures,
  catalogCliFixtures,
  cliFixtures,
  ioFixtures,
  lintFixtures,
  manifestFixtures,
  packFixtures,
} from './tools';
import { cleanUpRepos, verifyFixtures } from './verify';

/**
 * One fixture per finding code. Typed so that adding a code without a fixture is a type error; the
 * test in finding-codes.test.ts also fails at run time for any code without one.
 */
export const FIXTURES: Record<FindingCode, Fixture> = {
  ...yamlFixtures,
  ...entryFixtures,
  ...maintainersFixtures,
  ...ownersFixtures,
  ...pathFixtures,
  ...catalogFixtures,
  ...archiveFixtures,
  ...zipFixtures,
  ...catalogCliFixtures,
  ...lintFixtures,
  ...manifestFixtures,
  ...packFixtures,
  ...buildFixtures,
  ...ioFixtures,
  ...cliFixtures,
  ...verifyFixtures,
};

/** Removes every temp dir and repo the fixtures made. */
export function cleanUpFixtures(): void {
  cleanUp();
  cleanUpRepos();
}
