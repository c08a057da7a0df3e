import type { HostileCase, RawEntry } from './zips';
import { buildZip, UTF8_FLAG } from './zips';

/** Names Windows cannot hold, names that collide after case folding, invisible characters. */

const fine: RawEntry = { name: 'ok/fine.txt', data: Buffer.from('fine\n') };
const named =
  (...names: string[]) =>
  () =>
    buildZip([fine, ...names.map((name) => ({ name, data: Buffer.from('x'), flags: UTF8_FLAG }))]);

const unportable: [string, string][] = [
  ['colon (NTFS alternate data stream)', 'main.py:evil'],
  ['less-than', 'a<b'],
  ['greater-than', 'a>b'],
  ['double quote', 'say"hi"'],
  ['pipe', 'a|b'],
  ['question mark', 'why?'],
  ['asterisk', 'lib/*.py'],
  ['trailing dot', 'lib./x.py'],
  ['trailing space', 'docs /x.md'],
  ['trailing dot on a file', 'main.py.'],
  ['device name CON', 'CON'],
  ['device name nul in a directory component', 'lib/nul/x.py'],
  ['device name with an extension', 'con.txt'],
  ['device name with two extensions', 'data/NUL.tar.gz'],
  ['device name COM1', 'com1.py'],
  ['device name LPT9', 'LPT9'],
  ['device name AUX', 'aux.json'],
  ['device name PRN', 'Prn'],
  ['device name COM with superscript one', 'COM\u00b9.txt'],
  ['device name LPT with superscript three', 'lpt\u00b3'],
  ['console device CONIN$', 'conin$.log'],
];

const collisions: [string, string, string][] = [
  ['ß and ss', 'straße.py', 'STRASSE.py'],
  ['capital sharp s and ss', '\u1e9e.txt', 'ss.txt'],
  ['Kelvin sign and k', '\u212a.txt', 'k.txt'],
  ['long s and s', '\u017fetup.py', 'setup.py'],
  ['ﬁ ligature and fi', '\ufb01le.py', 'file.py'],
  ['final sigma and sigma', 'λογος', 'λογοσ'],
  ['NFD and NFC directories', 'cafe\u0301/a.txt', 'caf\u00e9/b.txt'],
  ['Greek capital and small', 'ΟΔΟΣ.md', 'οδος.md'],
  ['one directory spelled in two cases', 'Lib/a.py', 'lib/b.py'],
];

const invisible: [string, string][] = [
  ['right-to-left override', 'invoice\u202Etxt.py'],
  ['left-to-right isolate', 'a\u2066b.py'],
  ['pop directional isolate', 'a\u2069b.py'],
  ['right-to-left mark', '\u200Fmain.py'],
  ['left-to-right mark', 'main\u200E.py'],
  ['zero-width joiner', 'ma\u200Din.py'],
  ['C1 control NEL', 'a\u0085b'],
  ['C1 control CSI', 'a\u009b2Jb'],
  ['line separator', 'a\u2028b'],
  ['paragraph separator', 'a\u2029b'],
  ['byte order mark', '\uFEFFmain.py'],
];

export const nameCases: HostileCase[] = [
  ...unportable.map(
    ([what, name]): HostileCase => ({
      title: `Windows cannot hold it: ${what}`,
      bytes: named(name),
      code: 'zip.unportable-name',
      caughtBy: 'scan',
    }),
  ),
  ...collisions.map(
    ([what, a, b]): HostileCase => ({
      title: `case-fold collision: ${what}`,
      bytes: named(a, b),
      code: 'zip.case-collision',
      caughtBy: 'scan',
    }),
  ),
  ...invisible.map(
    ([what, name]): HostileCase => ({
      title: `invisible character in a name: ${what}`,
      bytes: named(name),
      code: 'zip.invalid-name',
      caughtBy: 'scan',
    }),
  ),
];
