// Builds the client into dist/: one bundle (OpenLayers included), one stylesheet,
// the page. Deterministic: the same sources and lock give the same files.
//
// It also assembles dist/pygeoapi/, the static folder of pygeoapi's HTML pages
// (server.templates.static in pygeoapi-config.yml): our own scripts and styles
// from pygeoapi/static/, and the libraries those pages use, copied from the npm
// packages pinned in package.json into dist/pygeoapi/vendor/<package>/ (with
// their licences, and VERSIONS.json naming each version), so nothing loads from a CDN.
import { build } from 'esbuild';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist');
await build({
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: 'dist',
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync('src/index.html', 'dist/index.html');
copyFileSync('src/favicon.svg', 'dist/favicon.svg');
// the 24 category pictograms (QGIS's SVGs as the WMS project draws them, in white)
cpSync('src/pictograms', 'dist/pictograms', { recursive: true });

// --- pygeoapi's pages ------------------------------------------------------------
const PAGES = 'dist/pygeoapi';
// package -> files of it the pages load (a source map beside a file is copied too)
const VENDORED = {
  bootstrap: ['dist/css/bootstrap.min.css'],
  leaflet: [
    'dist/leaflet.js',
    'dist/leaflet.css',
    'dist/images/layers.png',
    'dist/images/layers-2x.png',
    'dist/images/marker-icon.png',
    'dist/images/marker-icon-2x.png',
    'dist/images/marker-shadow.png',
  ],
  'leaflet.markercluster': [
    'dist/leaflet.markercluster.js',
    'dist/MarkerCluster.css',
    'dist/MarkerCluster.Default.css',
  ],
  'leaflet.vectorgrid': ['dist/Leaflet.VectorGrid.bundled.min.js'],
  'swagger-ui-dist': [
    'swagger-ui-bundle.js',
    'swagger-ui.css',
    'favicon-16x16.png',
    'favicon-32x32.png',
  ],
};
const LICENCE_FILES = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'MIT-LICENCE.txt', 'NOTICE'];

cpSync('pygeoapi/static', PAGES, { recursive: true });
mkdirSync(join(PAGES, 'img'), { recursive: true });
copyFileSync('src/favicon.svg', join(PAGES, 'img', 'kmzb.svg'));

const versions = {};
for (const [name, files] of Object.entries(VENDORED)) {
  const source = join('node_modules', name);
  const meta = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8'));
  versions[name] = meta.version;
  const target = join(PAGES, 'vendor', name);
  for (const file of files) {
    // dist/images/x.png -> images/x.png: the layout the package's CSS refers to
    const relative = file.replace(/^dist\/(css\/)?/, '');
    mkdirSync(dirname(join(target, relative)), { recursive: true });
    copyFileSync(join(source, file), join(target, relative));
    if (existsSync(join(source, `${file}.map`))) {
      copyFileSync(join(source, `${file}.map`), join(target, `${relative}.map`));
    }
  }
  const licences = LICENCE_FILES.filter((file) => existsSync(join(source, file)));
  for (const file of licences) copyFileSync(join(source, file), join(target, basename(file)));
  if (!licences.length) {
    writeFileSync(join(target, 'LICENSE.txt'), `${name} ${meta.version}: ${meta.license}\n`);
  }
}
writeFileSync(join(PAGES, 'vendor', 'VERSIONS.json'), `${JSON.stringify(versions, null, 2)}\n`);
console.log('web: built dist/ and dist/pygeoapi/');
