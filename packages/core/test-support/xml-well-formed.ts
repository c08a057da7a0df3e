import { spawnSync } from 'node:child_process';

// expat, through Python's minidom: a real, strict XML 1.0 parser. Documents go in as UTF-8 bytes;
// one that cannot be encoded (a lone surrogate) is not well-formed either.
const CHECK = `
import json, sys, xml.dom.minidom
out = []
for doc in json.load(sys.stdin):
    try:
        xml.dom.minidom.parseString(doc.encode("utf-8"))
        out.append(None)
    except Exception as e:
        out.append(type(e).__name__ + ": " + str(e))
print(json.dumps(out))
`;

/**
 * For each document, why a strict XML 1.0 parser refuses it, or null when it is well-formed. One
 * python3 process checks the whole batch.
 */
export function xmlProblems(documents: readonly string[]): Array<string | null> {
  const run = spawnSync('python3', ['-c', CHECK], {
    input: JSON.stringify(documents),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`python3 could not check the XML: ${run.stderr}`);
  return JSON.parse(run.stdout) as Array<string | null>;
}
