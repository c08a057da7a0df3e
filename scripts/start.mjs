// `npm start`: runs the hub on embedded defaults from the compiled builds (packages/cli/dist and
// coreservice/dist, which `npm ci` and `npm start` build), until Ctrl-C:
//   - the site: built from catalog/ into site/dist (Astro + Pagefind) and served under /plugins/;
//   - the hub: validates and builds catalog/ and serves the /v1 API and the archives on
//     http://127.0.0.1:8080 (PORT and HOST override), the site beside them;
//   - CoreService: the admin service on http://127.0.0.1:8090 (CORESERVICE_PORT overrides),
//     installing from that hub into .magellon/plugins (MAGELLON_PLUGINS_DIR overrides), the dir
//     `coreservice status` run anywhere in the checkout finds too; its admin token is
//     $MAGELLON_ADMIN_TOKEN, or the one it keeps in <plugins dir>/.admin-token.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const hubEntry = new URL('../packages/cli/dist/main.js', import.meta.url);
const csEntry = new URL('../coreservice/dist/main.js', import.meta.url);
if (!existsSync(hubEntry) || !existsSync(csEntry)) {
  console.error('npm start: the compiled build is missing; run `npm run build:cli` (or `npm ci`) first');
  process.exit(1);
}
const hub = await import(hubEntry.href);
const coreservice = await import(csEntry.href);
// Everything below is relative to the checkout: catalog/, .magellon/.
process.chdir(fileURLToPath(new URL('..', import.meta.url)));
const host = process.env.HOST ?? '127.0.0.1';
const port = process.env.PORT ?? '8080';
const siteDir = fileURLToPath(new URL('../site/dist', import.meta.url));
console.log('$ node scripts/build-site.mjs');
const site = spawnSync(process.execPath, [fileURLToPath(new URL('./build-site.mjs', import.meta.url))], {
  stdio: 'inherit',
});
const hubArgs = ['serve', 'catalog', '--port', port, '--host', host];
if (site.status === 0) hubArgs.push('--site', siteDir);
else console.error('npm start: the site did not build (see above); serving the API without it');
const hubUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
// The plugins dir: the one `coreservice` commands run in this checkout find too (the compiled
// build's npmStartPluginsDir: .magellon/plugins, or a dir under the temp dir that
// .magellon/plugins-dir names when CoreService runs as root and a folder above the checkout keeps
// other users out; $MAGELLON_PLUGINS_DIR or the config file's plugins_dir when set). CoreService
// is started without --plugins-dir, from this dir, so it resolves the same answer.
let plugins;
try {
  plugins = await coreservice.npmStartPluginsDir(process.cwd());
} catch (err) {
  console.error(`npm start: ${err.message}`);
  process.exit(1);
}
if (plugins.moved) console.log(`npm start: ${plugins.moved}, so they live under the temp dir`);
console.log(`npm start: plugins dir ${plugins.path} (from ${plugins.from})`);

const csArgs = [
  'serve',
  '--port',
  process.env.CORESERVICE_PORT ?? '8090',
  '--hub',
  process.env.MAGELLON_HUB_URL ?? hubUrl,
  // The hub this command serves builds catalog/ unsigned (no TUF keys on a newcomer's machine), so
  // CoreService is told so explicitly; a hub named by $MAGELLON_HUB_URL gets no such pass (give it
  // $MAGELLON_HUB_ROOT, or $MAGELLON_HUB_UNSIGNED=1).
  ...(process.env.MAGELLON_HUB_URL ? [] : ['--unsigned']),
];
console.log(`$ hub ${hubArgs.join(' ')}`);
let hubEnded;
const hubDone = hub.main(hubArgs).then((code) => {
  hubEnded = code;
  return code;
});
// CoreService starts once the hub answers, so the plugins it brings back can be reached.
for (let i = 0; i < 600 && hubEnded === undefined; i++) {
  try {
    if ((await fetch(`${hubUrl}/healthz`)).ok) break;
  } catch {}
  await new Promise((r) => setTimeout(r, 100));
}
if (hubEnded !== undefined) {
  console.error('npm start: the hub stopped; CoreService is not started');
  process.exit(hubEnded || 1);
}
console.log(`$ coreservice ${csArgs.join(' ')}`);
const codes = await Promise.all([hubDone, coreservice.main(csArgs)]);
process.exitCode = Math.max(...codes);
