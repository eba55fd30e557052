// Build the standalone embed bundle with the rspack already installed by @jupyter/builder.
// Usage: node embed/build.mjs  (after `tsc`, it bundles ../lib)
import { rspack } from '@rspack/core';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// What the bundle carries, on its first line: export_html reads it to refuse a widget whose
// front end is not in the bundle, before writing a page that cannot render it. The versions
// come from the same package.json files that embed/index.js's loader reads.
const MANIFEST = {
  modules: Object.fromEntries(
    ['../package.json', 'bqplot/package.json', 'bqscales/package.json'].map(p => {
      const { name, version } = require(p);
      return [name, version];
    })
  ),
  builtin: ['@jupyter-widgets/base', '@jupyter-widgets/controls', '@jupyter-widgets/output']
};
// the vendored packages' entry files, wherever yarn put them (node_modules/bqplot/index.js)
const VENDORED = /[\\/]node_modules[\\/](bqplot|bqscales)[\\/]index\.js$/;
const config = {
  mode: 'production',
  context: here,
  entry: './index.js',
  target: 'web',
  devtool: false,
  output: {
    path: path.resolve(here, '../../svdwidgets/widgets/embed'),
    filename: 'svdwidgets-embed.js',
    library: { name: 'svdwidgetsEmbed', type: 'window' },
    clean: true
  },
  optimization: { splitChunks: false },
  module: {
    rules: [
      { test: /\.m?js$/, resolve: { fullySpecified: false } },
      // the bqplot / bqscales front ends, vendored as AMD builds (see embed/vendor/update.py)
      { test: VENDORED, use: [path.join(here, 'amd-loader.cjs')] },
      { test: /\.css$/, use: ['style-loader', 'css-loader'] },
      // package.json's "sideEffects" lists only style/: without this, embed/icons.css, imported
      // for its effect alone, would be dropped
      { test: /\.css$/, include: here, sideEffects: true },
      { test: /\.(woff2?|ttf|eot|svg|png|gif)$/, type: 'asset/inline' }
    ]
  },
  resolve: {
    fallback: { crypto: false, path: false, fs: false },
    // the ipywidgets 7 front ends (see ipywidgets7.js) and their CSS
    alias: {
      '@jupyter-widgets/base7$': path.join(here, 'ipywidgets7.js'),
      '@jupyter-widgets/controls7$': path.join(here, 'ipywidgets7.js'),
      '@jupyter-widgets/controls7/css/widgets-base.css': false,
      '@jupyter-widgets/controls7/css/labvariables.css': false
    }
  },
  performance: { hints: false },
  plugins: [
    new rspack.optimize.LimitChunkCountPlugin({ maxChunks: 1 }),
    new rspack.BannerPlugin({
      banner: `/*! svdwidgets-embed ${JSON.stringify(MANIFEST)} */`,
      raw: true,
      stage: rspack.Compilation.PROCESS_ASSETS_STAGE_REPORT // after minification: kept verbatim
    })
  ]
};

rspack(config, (err, stats) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(stats.toString({ colors: false, modules: false, assets: true }));
  if (stats.hasErrors()) process.exit(1);
  // export_html inlines one file: a second chunk (an import() left unmerged) would be fetched
  // at run time from next to the page, and fail there
  const assets = stats.toJson({ assets: true }).assets.map(a => a.name);
  if (assets.length !== 1) {
    console.error(`expected one bundle file, got ${assets.join(', ')}`);
    process.exit(1);
  }
});
