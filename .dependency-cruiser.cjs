/**
 * The module boundaries, checked by `npm run boundaries`, a step of `npm test`: imports point down, from
 * HTTP to the handlers to the domain, never back up, and never in a circle. Test files may reach
 * test support; the rules are about the code that runs.
 */
const code = { pathNot: '\\.test\\.ts$' };

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment:
        'src/domain is plain TypeScript with no I/O: it imports nothing outside src/domain but the plain way to declare configuration (src/variables.ts)',
      severity: 'error',
      from: { path: '^src/domain/', ...code },
      to: { pathNot: '^src/(domain/|variables\\.ts$)' },
    },
    {
      name: 'variables-are-plain',
      comment: 'src/variables.ts, which every module declares its configuration with, imports nothing',
      severity: 'error',
      from: { path: '^src/variables\\.ts$' },
      to: {},
    },
    {
      name: 'auth-not-api',
      comment: 'inbound authentication sits below the therapist API: auth/ does not import api/',
      severity: 'error',
      from: { path: '^src/auth/', ...code },
      to: { path: '^src/api/' },
    },
    {
      name: 'guard-not-openapi',
      comment: 'the guard in front of every route does not load the OpenAPI document, not even through another module',
      severity: 'error',
      from: { path: '^src/http/guard\\.ts$' },
      to: { path: '^src/http/openapi\\.ts$', reachable: true },
    },
    {
      name: 'validation-not-mapping',
      comment: 'the validator reads FHIR with src/fhir, not with the domain mapping: validation/ does not import mapping/',
      severity: 'error',
      from: { path: '^src/validation/', ...code },
      to: { path: '^src/mapping/' },
    },
    {
      name: 'config-reads-no-files',
      comment:
        "config.ts and the configuration sections it collects (each module's config.ts) read environment variables only; files are read where they are used",
      severity: 'error',
      from: { path: ['^src/config\\.ts$', '^src/[a-z-]+/config\\.ts$'] },
      to: { path: '^(node:)?fs(/promises)?$', dependencyTypes: ['core'] },
    },
    {
      name: 'config-not-ehr',
      comment:
        "config.ts knows no EHR code: of src/ehr it reaches only the EHR's declarations (src/ehr/config.ts, which imports no other EHR code); the EHR boundary checks its own settings (src/ehr/private-key-check.ts)",
      severity: 'error',
      from: { path: '^src/config\\.ts$' },
      to: { path: '^src/ehr/', pathNot: '^src/ehr/config\\.ts$', reachable: true },
    },
    {
      name: 'store-engine-is-the-stores',
      comment:
        "only src/store reaches the SQL engines (src/store/sql.ts): a module with tables of its own is handed its statements, bound to the store's transaction (StoreTx.tables); test suites may make a database as an older version left it",
      severity: 'error',
      from: { pathNot: '^(src/store|test)/' },
      to: { path: '^src/store/sql\\.ts$' },
    },
    {
      name: 'own-tables',
      comment:
        "a module's tables (src/<module>/migrations.ts, the key StoreTx.tables hands their statements for) are reached by that module and by the store, which migrates them: by no other",
      severity: 'error',
      from: { path: '^src/([^/]+)', pathNot: ['^src/store/', '\\.test\\.ts$'] },
      to: { path: '^src/[^/]+/migrations\\.ts$', pathNot: '^src/$1/' },
    },
    {
      name: 'no-circular',
      comment: 'no module depends on itself through others',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
