import { spawnSync } from 'node:child_process';
import { skipLoudly } from '@magellon/hub-core/test-support';
import { describe, expect, it } from 'vitest';
import { parseYaml } from './parse-yaml';

/** Plain scalars where YAML 1.1 (PyYAML) and YAML 1.2 (js-yaml's default) disagree, and some where they agree. */
const SCALARS = [
  // booleans: YAML 1.1 has yes/no/on/off in three casings, but not y/n or mixed case
  ...['yes', 'Yes', 'YES', 'no', 'No', 'NO', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE'],
  ...['on', 'On', 'ON', 'off', 'Off', 'OFF', 'y', 'n', 'yEs', 'tRUE', 'oN'],
  // null
  ...['~', 'null', 'Null', 'NULL', 'nULL', ''],
  // ints: binary, leading-0 octal, hex, underscores, sexagesimal
  ...[
    '0',
    '-0',
    '+7',
    '42',
    '1_000',
    '0b1010',
    '-0b11',
    '0b1_0',
    '0755',
    '0_7',
    '08',
    '09',
    '0x1F',
    '0xff_ff',
  ],
  ...['-0x10', '0o17', '1:30', '-1:30', '190:20:30', '0:30', '1:60', '12:30:00', '1__2'],
  // floats: a dot is needed, the exponent needs a sign; .inf/.nan in three casings
  ...['1.0', '1.', '.5', '-.5', '+1.5', '1_000.5', '1e3', '1E3', '1.0e3', '1.0e+3', '1.5e-3', '1.0E+10'],
  ...['.inf', '-.inf', '+.Inf', '.INF', '.nan', '.NaN', '.NAN', 'inf', 'nan', '190:20:30.15', '6.8523015e+5'],
  // timestamps
  ...[
    '2025-06-01',
    '2025-06-01T12:00:00Z',
    '2025-06-01t12:00:00z',
    '2025-06-01 12:00:00',
    '2001-12-14 21:59:43.10 -5',
  ],
  ...['2001-12-14T21:59:43.123456+05:30', '2025-6-1T1:02:03', '2025-6-1', '2025-06-01T12:00'],
  // plain strings that look like something else
  ...['1.0.0', 'v1', '0.3.0-rc.1', 'on-failure', 'abc', '1_', '0x', '0b', '_1'],
];

/** Each value in a comparable form: numbers, dates as epoch ms, special floats by name. */
function normalize(v: unknown): unknown {
  if (v instanceof Date) return { date: v.getTime() };
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
    return { number: v };
  }
  return v;
}

const PYTHON = `
import datetime, json, math, sys, yaml
out = []
for s in json.load(sys.stdin):
    v = yaml.safe_load("v: " + s + "\\n")["v"]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        out.append(v)
    elif isinstance(v, (int, float)):
        if isinstance(v, float) and math.isnan(v): out.append("NaN")
        elif isinstance(v, float) and math.isinf(v): out.append("Infinity" if v > 0 else "-Infinity")
        else: out.append({"number": v})
    elif isinstance(v, datetime.datetime):
        if v.tzinfo is None: v = v.replace(tzinfo=datetime.timezone.utc)
        out.append({"date": int(v.timestamp()) * 1000 + v.microsecond // 1000})
    elif isinstance(v, datetime.date):
        out.append({"date": int(datetime.datetime(v.year, v.month, v.day, tzinfo=datetime.timezone.utc).timestamp()) * 1000})
    else:
        out.append({"unexpected": repr(v)})
print(json.dumps(out))
`;

/** Whether PyYAML is importable; when it is not, say so in one loud line (CI: HUB_REQUIRE_ALL=1 fails). */
function hasPyYaml(): boolean {
  if (spawnSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' }).status === 0) return true;
  skipLoudly('the PyYAML differential test', 'it needs `python3` with PyYAML: apt-get install python3-yaml');
  return false;
}

const sdk = (scalar: string) => {
  const r = parseYaml(`v: ${scalar}\n`, 'm.yaml', { flavour: 'sdk', maxBytes: 1 << 20 });
  if (!r.ok) throw new Error(r.finding.message);
  return (r.value.data as { v: unknown }).v;
};

describe("the 'sdk' YAML flavour reads scalars the way PyYAML's SafeLoader does", () => {
  it.skipIf(!hasPyYaml())('gives the same value as PyYAML for every scalar in the table', () => {
    const py = spawnSync('python3', ['-c', PYTHON], { input: JSON.stringify(SCALARS), encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const expected = JSON.parse(py.stdout) as unknown[];
    const rows = SCALARS.map((s, i) => ({ scalar: s, pyyaml: expected[i], hub: normalize(sdk(s)) }));
    expect(rows.filter((r) => JSON.stringify(r.pyyaml) !== JSON.stringify(r.hub))).toEqual([]);
  });

  it('reads YAML 1.1 forms a manifest author meets (without needing Python)', () => {
    expect(sdk('on')).toBe(true);
    expect(sdk('no')).toBe(false);
    expect(sdk('0755')).toBe(0o755);
    expect(sdk('1:30')).toBe(90);
    expect(sdk('1e3')).toBe('1e3');
    expect(sdk('1.5e-3')).toBe(0.0015);
    expect(sdk('.NaN')).toBeNaN();
    expect(sdk("'on'")).toBe('on');
    expect(sdk('2025-06-01')).toEqual(new Date('2025-06-01T00:00:00Z'));
  });

  it('catalog entries keep YAML 1.2 core: "on" and "0755" are not what YAML 1.1 makes of them', () => {
    const r = parseYaml('a: on\nb: 0755\nc: 1:30\n', 'e.yaml', { flavour: 'core', maxBytes: 1 << 20 });
    expect(r.ok && r.value.data).toEqual({ a: 'on', b: 755, c: '1:30' });
  });
});
