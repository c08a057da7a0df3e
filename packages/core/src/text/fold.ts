/**
 * The form two names share when a case-insensitive or normalizing file system (macOS, Windows)
 * would merge them. Lower-, upper- then lower-casing the decomposed form over-approximates Unicode
 * full case folding (ß/ẞ/SS, ſ/s, the Kelvin sign, the ﬁ ligature, final sigma); refusing a little
 * too much is safe.
 */
export function foldName(name: string): string {
  return name.normalize('NFD').toLowerCase().toUpperCase().toLowerCase().normalize('NFC');
}
