// Debian's python3-pika as a wheel in a plugin's own wheels/, for tests of plugins that announce on
// the broker: a plugin's venv sees none of the host's packages, so it gets pika the way a lab's
// plugin would get it offline — listed in its pyproject, shipped in its archive. The wheel is
// written with Python's zipfile from the installed package's files (pure Python, no build step).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const WRITE_WHEEL = `import os, sys, zipfile, pika
root = os.path.dirname(pika.__file__)
v = pika.__version__
out = os.path.join(sys.argv[1], f"pika-{v}-py3-none-any.whl")
with zipfile.ZipFile(out, "w") as z:
    for d, _, files in os.walk(root):
        for f in sorted(files):
            if f.endswith(".py"):
                p = os.path.join(d, f)
                z.write(p, os.path.relpath(p, os.path.dirname(root)))
    z.writestr(f"pika-{v}.dist-info/METADATA", f"Metadata-Version: 2.1\\nName: pika\\nVersion: {v}\\n")
    z.writestr(f"pika-{v}.dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: hub-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
    z.writestr(f"pika-{v}.dist-info/RECORD", "")
print(v)
`;

/** Puts a pika wheel in `pluginDir/wheels/` and `pika` among its pyproject's dependencies. */
export function withPikaWheel(pluginDir: string): void {
  const wheels = join(pluginDir, 'wheels');
  mkdirSync(wheels, { recursive: true });
  // Debian's interpreter: python3-pika is installed for it (a python3 earlier on PATH may not see it).
  execFileSync('/usr/bin/python3', ['-c', WRITE_WHEEL, wheels], { encoding: 'utf8' });
  const pyproject = join(pluginDir, 'pyproject.toml');
  const text = readFileSync(pyproject, 'utf8');
  if (!/^dependencies = \[\]$/m.test(text))
    throw new Error(`${pyproject} does not have the template's empty dependencies`);
  writeFileSync(pyproject, text.replace(/^dependencies = \[\]$/m, 'dependencies = ["pika"]'));
}
