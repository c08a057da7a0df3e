import type { z } from 'zod';

/**
 * The mapping keys a zod schema knows, read from its shapes (never a second hand-written
 * list): for each object, its keys and what is under each; for each array, its items.
 * Records (any key) and scalars have no node.
 */
export interface KnownKeys {
  /** Keys of an object at this place, each with what lies under it. */
  keys?: Map<string, KnownKeys | undefined>;
  /** What each item of an array at this place looks like. */
  items?: KnownKeys;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  options?: z.ZodType[];
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** Walks through wrappers (optional, nullable, default, pipes, preprocess) to the shapes inside. */
export function knownKeysOf(schema: z.ZodType, depth = 0): KnownKeys | undefined {
  if (depth > 32) return undefined;
  const def = defOf(schema);
  switch (def.type) {
    case 'object': {
      const keys = new Map<string, KnownKeys | undefined>();
      for (const [key, value] of Object.entries(def.shape ?? {}))
        keys.set(key, knownKeysOf(value, depth + 1));
      return { keys };
    }
    case 'array': {
      const items = def.element && knownKeysOf(def.element, depth + 1);
      return items && { items };
    }
    case 'pipe':
      // A preprocess is pipe(transform → schema); `.transform()` is pipe(schema → transform).
      return (def.in && knownKeysOf(def.in, depth + 1)) ?? (def.out && knownKeysOf(def.out, depth + 1));
    case 'union': {
      const merged: KnownKeys = {};
      for (const option of def.options ?? []) {
        const k = knownKeysOf(option, depth + 1);
        if (k?.keys) merged.keys = new Map([...(merged.keys ?? []), ...k.keys]);
        if (k?.items) merged.items ??= k.items;
      }
      return merged.keys || merged.items ? merged : undefined;
    }
    default:
      return def.innerType ? knownKeysOf(def.innerType, depth + 1) : undefined;
  }
}
