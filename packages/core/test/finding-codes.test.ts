import { afterAll, describe, expect, it } from 'vitest';
import { FINDING_CODES, type FindingCode } from '../src/finding-codes';
import { cleanUpFixtures, FIXTURES } from './finding-fixtures/all';

afterAll(cleanUpFixtures);

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
