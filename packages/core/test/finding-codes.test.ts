import { afterAll, describe, expect, it } from 'vitest';
import { FINDING_CODES, type FindingCode } from '../src/finding-codes';
import { archiveFixtures, zipFixtures } from './finding-fixtures/archives';
import {
  catalogFixtures,
  entryFixtures,
  maintainersFixtures,
  ownersFixtures,
  pathFixtures,
  yamlFixtures,
} from './finding-fixtures/catalog';
import { cleanUp, type Fixture } from './finding-fixtures/fixture';
import {
  buildFixtures,
  catalogCliFixtures,
  cliFixtures,
  ioFixtures,
  lintFixtures,
  manifestFixtures,
  packFixtures,
} from './finding-fixtures/tools';
import { cleanUpRepos, verifyFixtures } from './finding-fixtures/verify';

/**
 * One fixture per finding code. Typed so that adding a code without a fixture is a type error; the
 * test below also fails at run time for any code without one.
 */
const FIXTURES: Record<FindingCode, Fixture> = {
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

afterAll(() => {
  cleanUp();
  cleanUpRepos();
});

describe('every finding code has a fixture that shows where it is reported', () => {
  for (const code of Object.keys(FINDING_CODES) as FindingCode[]) {
    it(code, async () => {
      const fixture = FIXTURES[code];
      expect(fixture, `${code} has no fixture in packages/core/test/finding-fixtures`).toBeDefined();
      const { findings, expected } = await fixture!();
      const hits = findings.filter((f) => f.code === code);
      expect(
        hits.map((f) => f.file),
        `${code}: ${JSON.stringify(findings)}`,
      ).toContain(expected.file);
      const hit = hits.find((f) => f.file === expected.file)!;
      expect(hit.line, `${code} line`).toBe(expected.line);
      expect(hit.message.length, `${code} message`).toBeGreaterThan(0);
    });
  }
});
