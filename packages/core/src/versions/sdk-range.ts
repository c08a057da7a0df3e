import { satisfies, valid, validRange } from '@renovatebot/pep440';
import { remembered } from '../text/remembered';

/** The Magellon SDK version this hub checks `requires_sdk` against unless told otherwise. */
export const CURRENT_SDK_VERSION = '2.3.0';

/**
 * Parses a PEP 440 specifier set such as `>=2.1,<3.0`.
 * Returns an error message a plugin author can act on, or undefined when the range is usable.
 */
export const checkSdkRange = remembered(explainRange);

function explainRange(range: string): string | undefined {
  const trimmed = range.trim();
  if (trimmed === '') return 'requires_sdk is empty; write a range such as ">=2.1,<3.0"';
  if (!validRange(trimmed)) {
    return `requires_sdk "${range}" is not a PEP 440 specifier set; write clauses such as ">=2.1,<3.0"`;
  }
  return undefined;
}

/** True when the SDK version `sdk` satisfies `range`. An unparsable range never matches. */
export function sdkSatisfies(sdk: string, range: string): boolean {
  if (!valid(sdk) || checkSdkRange(range)) return false;
  return satisfies(sdk, range.trim());
}
