/**
 * A FHIR NPM package as kap-bridge reads one (`kap-bridge validate --package`): a `.tgz` or a folder
 * (the `package/` folder itself or one holding it), unpacked to a folder whose conformance resources
 * the validator loads like profiles/.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface PackageManifest {
  name: string;
  version: string;
  fhirVersions?: string[];
  dependencies?: Record<string, string>;
  canonical?: string;
}

export interface OpenedPackage {
  /** The folder holding package.json, .index.json and the resources. */
  dir: string;
  manifest: PackageManifest;
  /** Removes what was unpacked (nothing for a folder). */
  close(): void;
}

/** Why a file or folder is not a FHIR package, said to the person who named it. */
export class PackageError extends Error {}

/** The regular files of a tar archive by path; other entries (folders, links) are left out. */
export function untar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let longName: string | undefined;
  for (let at = 0; at + 512 <= archive.length; ) {
    const header = archive.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const text = (from: number, len: number) =>
      header
        .subarray(from, from + len)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(text(124, 12).trim() || '0', 8);
    const type = text(156, 1) || '0';
    const prefix = text(257, 6).startsWith('ustar') ? text(345, 155) : '';
    const name = longName ?? (prefix ? `${prefix}/${text(0, 100)}` : text(0, 100));
    const body = archive.subarray(at + 512, at + 512 + size);
    longName = undefined;
    if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
    else if (type === 'x') longName = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1];
    else if (type === '0' || type === '7') files.set(name, Buffer.from(body));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

function readManifest(dir: string, named: string): PackageManifest {
  const file = join(dir, 'package.json');
  if (!existsSync(file))
    throw new PackageError(`${named} is not a FHIR package: it has no package/package.json.`);
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as Partial<PackageManifest>;
  if (typeof manifest.name !== 'string' || typeof manifest.version !== 'string')
    throw new PackageError(`${named} is not a FHIR package: its package.json names no name and version.`);
  if (!manifest.fhirVersions?.some((v) => v.startsWith('4.0')))
    throw new PackageError(
      `${named} (${manifest.name}#${manifest.version}) is not a FHIR R4 package: its fhirVersions are ${JSON.stringify(manifest.fhirVersions ?? [])}.`,
    );
  return manifest as PackageManifest;
}

/** Opens a package `.tgz` (unpacked to a temporary folder) or a package folder. */
export function openPackage(path: string): OpenedPackage {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch {
    throw new PackageError(`No such package file or folder: ${path}.`);
  }
  if (stat.isDirectory()) {
    const dir = existsSync(join(path, 'package', 'package.json')) ? join(path, 'package') : path;
    return { dir, manifest: readManifest(dir, path), close: () => {} };
  }
  let files: Map<string, Buffer>;
  try {
    files = untar(gunzipSync(readFileSync(path)));
  } catch {
    throw new PackageError(`${path} is not a FHIR package: it is not a gzipped tar archive (.tgz).`);
  }
  const root = mkdtempSync(join(tmpdir(), 'kap-fhir-package-'));
  try {
    for (const [name, data] of files) {
      const target = normalize(join(root, name));
      if (!target.startsWith(root + sep)) continue;
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, data);
    }
    const dir = join(root, 'package');
    return {
      dir,
      manifest: readManifest(dir, path),
      close: () => rmSync(root, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
}
