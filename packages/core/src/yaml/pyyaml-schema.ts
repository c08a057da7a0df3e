import { DEFAULT_SCHEMA, FAILSAFE_SCHEMA, type Schema, Type, YAMLException } from 'js-yaml';

/*
 * The js-yaml schema that reads plain scalars the way PyYAML's SafeLoader does (YAML 1.1), so a
 * manifest means here what it means to the Magellon SDK. The regular expressions are PyYAML's
 * implicit resolvers (yaml/resolver.py), the constructors follow yaml/constructor.py.
 * Quoted scalars are always strings, as in PyYAML.
 */

const BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const NULL = /^(?:~|null|Null|NULL|)$/;
const INT =
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
// Note the exponent needs a sign and the mantissa a dot: `1e3` and `1.0e3` stay strings in PyYAML.
const FLOAT =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

/** Splits a leading sign off, PyYAML style. */
function signed(text: string): [number, string] {
  if (text.startsWith('-')) return [-1, text.slice(1)];
  if (text.startsWith('+')) return [1, text.slice(1)];
  return [1, text];
}

/** `1:30:05` → 5405: base 60, most significant part first. */
function sexagesimal(parts: number[]): number {
  return parts.reduce((acc, part) => acc * 60 + part, 0);
}

const nullType = new Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (data: string) => NULL.test(data),
  construct: () => null,
  predicate: (v: unknown) => v === null,
  represent: () => 'null',
});

const boolType = new Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (data: string) => BOOL.test(data),
  construct: (data: string) => ['yes', 'true', 'on'].includes(data.toLowerCase()),
  predicate: (v: unknown) => typeof v === 'boolean',
  represent: (v: object) => String(v),
});

const intType = new Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (data: string) => INT.test(data),
  construct: (data: string) => {
    const [sign, value] = signed(data.replace(/_/g, ''));
    if (value === '0') return 0;
    if (value.startsWith('0b')) return sign * Number.parseInt(value.slice(2), 2);
    if (value.startsWith('0x')) return sign * Number.parseInt(value.slice(2), 16);
    if (value.startsWith('0')) return sign * Number.parseInt(value, 8);
    if (value.includes(':')) return sign * sexagesimal(value.split(':').map((p) => Number.parseInt(p, 10)));
    return sign * Number.parseInt(value, 10);
  },
  predicate: (v: unknown) => typeof v === 'number' && Number.isInteger(v),
  represent: (v: object) => String(v),
});

const floatType = new Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (data: string) => FLOAT.test(data),
  construct: (data: string) => {
    const [sign, value] = signed(data.replace(/_/g, '').toLowerCase());
    if (value === '.inf') return sign * Number.POSITIVE_INFINITY;
    if (value === '.nan') return Number.NaN;
    if (value.includes(':')) return sign * sexagesimal(value.split(':').map(Number));
    return sign * Number(value);
  },
  predicate: (v: unknown) => typeof v === 'number',
  represent: (v: object) => String(v),
});

/** PyYAML resolves a plain `=` to the YAML 1.1 "value" tag, which SafeLoader cannot construct. */
const valueType = new Type('tag:yaml.org,2002:value', {
  kind: 'scalar',
  resolve: (data: string) => data === '=',
  construct: () => {
    throw new YAMLException('a plain "=" is the YAML 1.1 value key, which PyYAML refuses; quote it');
  },
});

/** js-yaml's own timestamp (same pattern as PyYAML's), merge key and !!binary/!!omap/!!pairs/!!set. */
function fromDefault(tags: string[]): Type[] {
  const all = [
    ...(DEFAULT_SCHEMA as unknown as { implicit: Type[] }).implicit,
    ...(DEFAULT_SCHEMA as unknown as { explicit: Type[] }).explicit,
  ];
  return tags.map((tag) => {
    const type = all.find((t) => (t as unknown as { tag: string }).tag === tag);
    if (!type) throw new Error(`js-yaml has no ${tag} type`);
    return type;
  });
}

/** YAML 1.1 as PyYAML's SafeLoader reads it: the 'sdk' flavour used for archive manifests. */
export const PYYAML_SAFE_SCHEMA: Schema = FAILSAFE_SCHEMA.extend({
  implicit: [
    nullType,
    boolType,
    intType,
    floatType,
    ...fromDefault(['tag:yaml.org,2002:timestamp', 'tag:yaml.org,2002:merge']),
    valueType,
  ],
  explicit: fromDefault([
    'tag:yaml.org,2002:binary',
    'tag:yaml.org,2002:omap',
    'tag:yaml.org,2002:pairs',
    'tag:yaml.org,2002:set',
  ]),
});
