/**
 * Wraps a pure string check with a bounded memo. Catalogs repeat a few values (licenses, SDK ranges,
 * version numbers, homepages) thousands of times, and some checks (SPDX, PEP 440, URL, SemVer
 * parsing) are slow enough to show at 25,000 entries. The memo is cleared when it reaches `max`.
 */
export function remembered<T>(check: (value: string) => T, max = 4096): (value: string) => T {
  const verdicts = new Map<string, T>();
  return (value) => {
    if (verdicts.has(value)) return verdicts.get(value) as T;
    const verdict = check(value);
    if (verdicts.size >= max) verdicts.clear();
    verdicts.set(value, verdict);
    return verdict;
  };
}
