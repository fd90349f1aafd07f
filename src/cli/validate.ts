/**
 * `kap-bridge validate <file|dir>... [--profile URL] [--package FILE] [--json]`: validates FHIR R4
 * JSON resources and Bundles. Exit 0 when every input is valid, 1 when any has an error, 2 for a
 * usage mistake.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Bundle } from 'fhir/r4';
import { type OpenedPackage, openPackage, PackageError } from '../fhir/fhir-package.js';
import { isError, toOutcome } from '../fhir/outcome.js';
import { createValidator, type Finding } from '../validation/validator.js';
import { type CliIo, type Command, commandRun, EXIT, parseOptions, UsageError } from './command.js';

const USAGE = `Usage: kap-bridge validate <file|dir>... [--profile URL] [--package FILE] [--json]
       kap-bridge validate --package FILE

Validates FHIR R4 JSON resources and Bundles: structure (R4 JSON schema), cardinality, fixed and
pattern values, required bindings and invariants (R4 StructureDefinitions and the profiles in
profiles/), and the KAP rules. Folders are searched for *.json files.

Options:
  --profile URL   also check every input against this profile (canonical URL)
  --package FILE  take the profiles, CodeSystems and ValueSets from this FHIR package (a .tgz such
                  as generated/package.tgz, or a package folder) instead of profiles/; with no
                  file named, validate the package's own examples
  --json          print the OperationOutcome (a Bundle of them for several inputs)
  --help          show this help

Exit code: 0 every input valid, 1 some input has an error, 2 a usage mistake.`;

interface Args {
  paths: string[];
  profile?: string;
  package?: string;
  json: boolean;
}

function parse(args: string[]): Args {
  const { values, rest } = parseOptions(args, {
    profile: {
      type: 'string',
      missing: '--profile needs a URL: --profile https://fhir.kap-bridge.org/StructureDefinition/kap-session',
    },
    package: {
      type: 'string',
      missing: '--package needs a FHIR package: --package generated/package.tgz',
    },
    json: { type: 'boolean' },
  });
  const unknown = rest.find((a) => a.startsWith('-'));
  if (unknown)
    throw new UsageError(
      `Unknown option '${unknown}'. Options are --profile URL, --package FILE, --json and --help.`,
    );
  return {
    paths: rest,
    json: values.json ?? false,
    ...(values.profile ? { profile: values.profile } : {}),
    ...(values.package ? { package: values.package } : {}),
  };
}

function open(path: string): OpenedPackage {
  try {
    return openPackage(path);
  } catch (e) {
    if (e instanceof PackageError) throw new UsageError(e.message);
    throw e;
  }
}

/** The JSON files named, folders searched recursively, in a stable order. */
function inputFiles(paths: string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      // Dot files are no resources (a FHIR package's .index.json).
      else if (entry.name.endsWith('.json') && !entry.name.startsWith('.')) files.push(path);
    }
  };
  for (const p of paths) {
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(p);
    } catch {
      throw new UsageError(
        `No such file or folder: ${p}. Check the path (relative paths start from ${process.cwd()}).`,
      );
    }
    if (stat.isDirectory()) {
      const before = files.length;
      walk(p);
      if (files.length === before) throw new UsageError(`The folder ${p} holds no .json files to validate.`);
    } else files.push(p);
  }
  return files;
}

function report(file: string, findings: Finding[]): string {
  const errors = findings.filter(isError).length;
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  const head = errors === 0 ? `ok    ${file}` : `FAIL  ${file}`;
  const counts = [
    errors && `${errors} error${errors > 1 ? 's' : ''}`,
    warnings && `${warnings} warning${warnings > 1 ? 's' : ''}`,
  ]
    .filter(Boolean)
    .join(', ');
  const lines = [counts ? `${head} (${counts})` : head];
  for (const f of findings) {
    const where = f.expression && !f.message.includes(f.expression) ? `${f.expression}: ` : '';
    lines.push(`      ${f.severity.padEnd(7)} ${where}${f.message}`);
  }
  return lines.join('\n');
}

async function runValidate(args: string[], io: CliIo): Promise<number> {
  const parsed = parse(args);
  if (parsed.paths.length === 0 && !parsed.package)
    throw new UsageError('Name at least one file or folder to validate.');
  const fhirPackage = parsed.package ? open(parsed.package) : undefined;
  try {
    return validateWith(parsed, fhirPackage, io);
  } finally {
    fhirPackage?.close();
  }
}

function validateWith(parsed: Args, fhirPackage: OpenedPackage | undefined, io: CliIo): number {
  let paths = parsed.paths;
  if (fhirPackage && paths.length === 0) {
    const examples = join(fhirPackage.dir, 'example');
    if (!existsSync(examples))
      throw new UsageError(`${parsed.package} has no examples: name the files or folders to validate.`);
    paths = [examples];
  }
  const files = inputFiles(paths);
  const validator = createValidator(fhirPackage ? { profilesDir: fhirPackage.dir } : {});
  if (fhirPackage) {
    const { name, version } = fhirPackage.manifest;
    io.stderr(`Profiles from the FHIR package ${name}#${version}.`);
  }
  if (parsed.profile && !validator.profiles().includes(parsed.profile.split('|')[0] as string)) {
    const ours = validator.profiles().filter((p) => !p.startsWith('http://hl7.org/'));
    io.stderr(
      `Unknown profile ${parsed.profile}. Known profiles:\n  ${ours.join('\n  ')}\n(and the R4 core profiles, e.g. http://hl7.org/fhir/StructureDefinition/vitalsigns)`,
    );
    return EXIT.usage;
  }

  const results = files.map((file) => {
    let findings: Finding[];
    try {
      findings = validator.validateJsonText(
        readFileSync(file, 'utf8'),
        parsed.profile ? { profile: parsed.profile } : {},
      );
    } catch (e) {
      findings = [
        {
          severity: 'fatal',
          code: 'exception',
          message: `Cannot read ${file}: ${(e as Error).message}`,
          layer: 'parse',
        },
      ];
    }
    return { file, findings };
  });
  const failed = results.filter((r) => r.findings.some(isError)).length;

  if (parsed.json) {
    const outcomes = results.map((r) => toOutcome(r.findings.map(({ layer: _, ...issue }) => issue)));
    const json: unknown =
      results.length === 1
        ? outcomes[0]
        : ({
            resourceType: 'Bundle',
            type: 'collection',
            entry: results.map((r, i) => ({ fullUrl: `file://${resolve(r.file)}`, resource: outcomes[i] })),
          } satisfies Bundle);
    io.stdout(JSON.stringify(json, null, 2));
  } else {
    const shown = (file: string) =>
      fhirPackage && file.startsWith(fhirPackage.dir)
        ? `${parsed.package}:${relative(fhirPackage.dir, file)}`
        : relative(process.cwd(), file) || file;
    for (const r of results) io.stdout(report(shown(r.file), r.findings));
    io.stdout(`\n${results.length} checked: ${results.length - failed} valid, ${failed} with errors.`);
  }
  return failed === 0 ? EXIT.ok : EXIT.findings;
}

export const validate: Command = {
  name: 'validate',
  summary: 'validate FHIR R4 JSON resources and Bundles (files or folders)',
  usage: USAGE,
  run: commandRun(USAGE, runValidate),
};
