/**
 * Builds the console into generated/console (served by `kap-bridge serve` at /console): the page,
 * one script bundled by esbuild from console/src (Preact, htm, uPlot) and one stylesheet. Run by
 * `npm run build`, so `npm ci` builds it; nothing is fetched when the console is used.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'generated', 'console');
mkdirSync(join(out, 'assets'), { recursive: true });

await build({
  entryPoints: [join(here, 'src', 'main.js')],
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2020',
  outfile: join(out, 'assets', 'console.js'),
  logLevel: 'warning',
});
const uplotCss = readFileSync(join(here, '..', 'node_modules', 'uplot', 'dist', 'uPlot.min.css'), 'utf8');
writeFileSync(join(out, 'assets', 'console.css'), `${uplotCss}\n${readFileSync(join(here, 'console.css'), 'utf8')}`);
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
