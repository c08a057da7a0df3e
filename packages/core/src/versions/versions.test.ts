import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSdkRange, sdkSatisfies } from './sdk-range';
import {
  compareVersions,
  isPrerelease,
  isSemver,
  latestVersion,
  sortVersionsDescending,
  upgradeVerdict,
} from './semver';

const core = fc.tuple(fc.nat(50), fc.nat(50), fc.nat(50)).map(([a, b, c]) => `${a}.${b}.${c}`);
const pre = fc.oneof(
  fc.constant(''),
  fc.tuple(fc.constantFrom('alpha', 'beta', 'rc'), fc.nat(9)).map(([t, n]) => `-${t}.${n}`),
);
const semverArb = fc.tuple(core, pre).map(([c, p]) => c + p);

describe('SemVer rules', () => {
  it('accepts strict SemVer with pre-releases and build metadata, rejects loose forms', () => {
    for (const v of ['1.0.0', '0.1.0', '1.2.3-rc.1', '1.0.0-alpha.beta', '1.0.0+build.5'])
      expect(isSemver(v)).toBe(true);
    for (const v of ['1.0', 'v1.0.0', '1.0.0 ', '01.0.0', '1.0.0-', 'latest', ''])
      expect(isSemver(v)).toBe(false);
  });

  it('orders pre-releases before their release', () => {
    expect(compareVersions('1.2.0-rc.1', '1.2.0')).toBeLessThan(0);
    expect(compareVersions('1.2.0-rc.2', '1.2.0-rc.10')).toBeLessThan(0);
    expect(compareVersions('1.10.0', '1.9.0')).toBeGreaterThan(0);
  });

  it('sorting is a total order: antisymmetric and consistent with compare', () => {
    fc.assert(
      fc.property(fc.array(semverArb, { maxLength: 20 }), (versions) => {
        const sorted = sortVersionsDescending(versions, (v) => v);
        for (let i = 1; i < sorted.length; i++)
          expect(compareVersions(sorted[i - 1]!, sorted[i]!)).toBeGreaterThanOrEqual(0);
        for (const a of versions)
          for (const b of versions)
            expect(Math.sign(compareVersions(a, b)) + Math.sign(compareVersions(b, a))).toBe(0);
      }),
    );
  });

  it('latest is the highest non-yanked release, never a yanked or pre-release one when a release exists', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ version: semverArb, yanked: fc.boolean() }), { maxLength: 15 }),
        (versions) => {
          const latest = latestVersion(versions);
          const live = versions.filter((v) => !v.yanked);
          if (live.length === 0) {
            expect(latest).toBeUndefined();
            return;
          }
          expect(latest).toBeDefined();
          expect(live.map((v) => v.version)).toContain(latest);
          const releases = live.filter((v) => !isPrerelease(v.version));
          if (releases.length > 0) {
            expect(isPrerelease(latest!)).toBe(false);
            for (const r of releases) expect(compareVersions(latest!, r.version)).toBeGreaterThanOrEqual(0);
          } else {
            for (const r of live) expect(compareVersions(latest!, r.version)).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });

  it('picks the right latest in the cases people ask about', () => {
    expect(latestVersion([{ version: '1.0.0' }, { version: '1.1.0', yanked: { reason: 'bad' } }])).toBe(
      '1.0.0',
    );
    expect(latestVersion([{ version: '1.0.0' }, { version: '2.0.0-rc.1' }])).toBe('1.0.0');
    expect(latestVersion([{ version: '0.1.0-beta.1' }, { version: '0.1.0-beta.2' }])).toBe('0.1.0-beta.2');
    expect(latestVersion([{ version: '1.0.0', yanked: true }])).toBeUndefined();
  });

  it('describes moves between versions for the upgrade dialog', () => {
    expect(upgradeVerdict('1.0.0', '1.1.0')).toBe('upgrade');
    expect(upgradeVerdict('1.1.0', '1.1.0')).toBe('same');
    expect(upgradeVerdict('1.1.0', '1.1.0-rc.1')).toBe('downgrade');
  });
});

describe('requires_sdk ranges (PEP 440)', () => {
  it('matches clause lists the way pip does', () => {
    expect(sdkSatisfies('2.1.0', '>=2.1,<3.0')).toBe(true);
    expect(sdkSatisfies('2.0.9', '>=2.1,<3.0')).toBe(false);
    expect(sdkSatisfies('3.0.0', '>=2.1,<3.0')).toBe(false);
    expect(sdkSatisfies('2.4', '~=2.1')).toBe(true);
    expect(sdkSatisfies('2.3.0', '==2.*')).toBe(true);
    expect(sdkSatisfies('2.3.0', '>= 2.1, < 3.0')).toBe(true);
  });

  it('explains unusable ranges instead of matching nothing silently', () => {
    expect(checkSdkRange('>=2.1,<3.0')).toBeUndefined();
    for (const bad of ['', '2.1', '>=2.1;<3', 'latest', '>=2.1,,<3']) {
      expect(checkSdkRange(bad)).toMatch(/requires_sdk/);
      expect(sdkSatisfies('2.3.0', bad)).toBe(false);
    }
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (sdk, range) => {
        expect(typeof sdkSatisfies(sdk, range)).toBe('boolean');
        const msg = checkSdkRange(range);
        expect(msg === undefined || typeof msg === 'string').toBe(true);
      }),
    );
  });

  it('a range built from bounds contains exactly the versions between them', () => {
    fc.assert(
      fc.property(fc.nat(9), fc.nat(9), fc.nat(9), fc.nat(9), (lo, hi, maj, min) => {
        const range = `>=${lo}.0,<${hi}.0`;
        const v = `${maj}.${min}.0`;
        expect(sdkSatisfies(v, range)).toBe(maj >= lo && maj < hi);
      }),
    );
  });
});
