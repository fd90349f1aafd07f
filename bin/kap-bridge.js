#!/usr/bin/env node
// The kap-bridge command line. It runs the compiled code in dist/ (npm run build).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
  process.stderr.write(
    'kap-bridge is not built yet: run `npm run build` in the kap-bridge folder, then try again.\n',
  );
  process.exit(2);
}
await cli.main();
