// Categories and their backends, as Magellon's admin UI shows them: every installed plugin serves
// one category (its manifest's `category`) as one backend (`backend_id`, else a slug of its name, as
// Magellon's SDK derives it). Several backends may serve one category (ctffind4 and a future gctf
// both serve ctf); the operator pins the one a dispatcher gets when it names none (persisted in
// `<plugins_dir>/.categories/<slug>.json`, layout.ts), and a dispatcher names another explicitly
// with `target_backend`. Unpinned, the default is the only backend, else the one installed first.
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { SLUG_PATTERN } from '@magellon/hub-core';
import { escapeControl } from '@magellon/hub-core/text';
import { InstallError } from './errors';
import { listInstalled, type Receipt } from './install';
import { categoryDefaultFile } from './layout';
import { categoryDefaultSchema, readRecord, recordValue, writeRecord } from './records';
import { loadRuntime } from './runtime/runner';

export interface CategoryBackend {
  plugin_id: string;
  backend_id: string;
  name: string;
  version: string;
  install_method: string;
  is_default: boolean;
}

export interface Category {
  /** The category's slug (the manifests' `category`). */
  slug: string;
  /** The plugin a dispatcher gets when it names no backend, and why that one. */
  default: { plugin_id: string; backend_id: string; source: 'pinned' | 'only' | 'first-installed' } | null;
  backends: CategoryBackend[];
}

/** Magellon's SDK's backend identity: the manifest's backend_id, else its name lower-cased, spaces to `-`. */
export function backendIdOf(manifest: { backend_id?: string | null; name: string }): string {
  if (manifest.backend_id) return manifest.backend_id;
  return manifest.name.trim().toLowerCase().split(/\s+/).join('-') || 'unknown';
}

const isCategorySlug = (s: string) => s.length <= 100 && SLUG_PATTERN.test(s);

export interface Installed {
  receipt: Receipt;
  category: string;
  backend: Omit<CategoryBackend, 'is_default'>;
}

/** An installed plugin's category and backend identity; undefined when its manifest no longer reads. */
export function backendOf(pluginsDir: string, receipt: Receipt): Installed | undefined {
  try {
    const rt = loadRuntime(pluginsDir, receipt.plugin_id, receipt.version, receipt.method ?? 'subprocess');
    return {
      receipt,
      category: rt.manifest.category,
      backend: {
        plugin_id: receipt.plugin_id,
        backend_id: backendIdOf(rt.manifest),
        name: rt.manifest.name,
        version: receipt.version,
        install_method: rt.entry.method,
      },
    };
  } catch {
    return undefined; // a version whose manifest no longer reads: status and doctor name it
  }
}

/** Every installed plugin whose manifest reads, with its category and backend identity. */
function installedBackends(pluginsDir: string): Installed[] {
  return listInstalled(pluginsDir).flatMap((receipt) => backendOf(pluginsDir, receipt) ?? []);
}

/** The pinned default of a category, when its file reads. */
const pinnedOf = (pluginsDir: string, slug: string) =>
  recordValue(readRecord(categoryDefaultFile(pluginsDir, slug), categoryDefaultSchema))?.plugin_id;

/** Every category that has an installed backend, sorted, with its backends and its default. */
export function listCategories(pluginsDir: string): Category[] {
  const bySlug = new Map<string, Installed[]>();
  for (const i of installedBackends(pluginsDir)) {
    const list = bySlug.get(i.category) ?? [];
    list.push(i);
    bySlug.set(i.category, list);
  }
  return [...bySlug.keys()].sort().map((slug) => {
    const all = bySlug
      .get(slug)!
      .sort((a, b) => a.receipt.installed_at.localeCompare(b.receipt.installed_at));
    const pinned = isCategorySlug(slug) ? pinnedOf(pluginsDir, slug) : undefined;
    const chosen = all.find((i) => i.receipt.plugin_id === pinned) ?? all[0];
    const source =
      chosen?.receipt.plugin_id === pinned ? 'pinned' : all.length === 1 ? 'only' : 'first-installed';
    return {
      slug,
      default: chosen
        ? { plugin_id: chosen.backend.plugin_id, backend_id: chosen.backend.backend_id, source }
        : null,
      backends: all.map((i) => ({ ...i.backend, is_default: i === chosen })),
    };
  });
}

/** One category; `not-found` when no installed plugin serves it. */
export function getCategory(pluginsDir: string, slug: string): Category {
  const found = listCategories(pluginsDir).find((c) => c.slug === slug);
  if (!found) {
    throw new InstallError(
      'not-found',
      `no installed plugin serves the category ${JSON.stringify(escapeControl(slug.slice(0, 100)))}`,
    );
  }
  return found;
}

/**
 * Pins `pluginId` as the category's default (null: unpins it). The plugin must be installed and
 * serve that category. Answers the category as it is then.
 */
export function pinCategoryDefault(pluginsDir: string, slug: string, pluginId: string | null): Category {
  const category = getCategory(pluginsDir, slug);
  // Archive manifests carry a slug (the manifest schema's rule); a receipt written before that rule
  // may not, and such a category (`../x`) never becomes a path.
  if (!isCategorySlug(slug))
    throw new InstallError(
      'bad-request',
      `the category ${JSON.stringify(escapeControl(slug))} is not a slug; no default can be kept for it`,
    );
  const file = categoryDefaultFile(pluginsDir, slug);
  if (pluginId === null) {
    rmSync(file, { force: true });
    return getCategory(pluginsDir, slug);
  }
  if (!category.backends.some((b) => b.plugin_id === pluginId)) {
    const served = category.backends.map((b) => b.plugin_id).join(', ');
    throw new InstallError(
      'bad-request',
      `${JSON.stringify(escapeControl(pluginId.slice(0, 100)))} does not serve ${slug}; its installed backends are ${served}`,
    );
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeRecord(file, categoryDefaultSchema, { plugin_id: pluginId, pinned_at: new Date().toISOString() });
  return getCategory(pluginsDir, slug);
}

/** The plugin a dispatch of the category goes to, and why that one. */
export interface DispatchChoice {
  category: string;
  plugin_id: string;
  backend_id: string;
  /** target_backend: the dispatcher named it · default: the operator pinned it · only: the one backend. */
  chosen_by: 'target_backend' | 'default' | 'only';
}

/**
 * The dispatch rule: a `targetBackend` names one backend of the category (its backend_id; 404 when
 * none of the installed ones has it); without one, the pinned default; without a pin, the
 * category's only backend; several and none pinned is 409 (the dispatcher must name one, or the
 * operator pin one: the first installed is what the UI preselects, never where work is routed).
 */
export function chooseBackend(pluginsDir: string, slug: string, targetBackend?: string): DispatchChoice {
  const category = getCategory(pluginsDir, slug);
  const pick = (b: CategoryBackend, chosen_by: DispatchChoice['chosen_by']): DispatchChoice => ({
    category: category.slug,
    plugin_id: b.plugin_id,
    backend_id: b.backend_id,
    chosen_by,
  });
  const served = category.backends.map((b) => b.backend_id).join(', ');
  if (targetBackend !== undefined) {
    // Two plugins may call themselves the same backend: the default one, else the first installed.
    const named = category.backends.filter((b) => b.backend_id === targetBackend);
    const chosen = named.find((b) => b.is_default) ?? named[0];
    if (!chosen) {
      throw new InstallError(
        'not-found',
        `no installed backend ${JSON.stringify(escapeControl(targetBackend.slice(0, 100)))} serves ${slug}; its backends are ${served}`,
      );
    }
    return pick(chosen, 'target_backend');
  }
  const def = category.backends.find((b) => b.is_default);
  if (category.default?.source === 'pinned' && def) return pick(def, 'default');
  if (category.backends.length === 1) return pick(category.backends[0]!, 'only');
  throw new InstallError(
    'ambiguous-backend',
    `${slug} has several backends (${served}) and no pinned default; name one with target_backend, or pin a default (PUT /admin/categories/${slug}/default)`,
  );
}
