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

interface Installed {
  receipt: Receipt;
  category: string;
  backend: Omit<CategoryBackend, 'is_default'>;
}

/** Every installed plugin whose manifest reads, with its category and backend identity. */
function installedBackends(pluginsDir: string): Installed[] {
  return listInstalled(pluginsDir).flatMap((receipt) => {
    try {
      const rt = loadRuntime(pluginsDir, receipt.plugin_id, receipt.version, receipt.method ?? 'subprocess');
      return [
        {
          receipt,
          category: rt.manifest.category,
          backend: {
            plugin_id: receipt.plugin_id,
            backend_id: backendIdOf(rt.manifest),
            name: rt.manifest.name,
            version: receipt.version,
            install_method: rt.entry.method,
          },
        },
      ];
    } catch {
      return []; // a version whose manifest no longer reads: status and doctor name it
    }
  });
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
  // A manifest's category is only checked to be lower case: one that is no slug (`../x`) never
  // becomes a path.
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
