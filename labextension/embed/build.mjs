// Build the standalone embed bundle with the rspack already installed by @jupyter/builder.
// Usage: node embed/build.mjs  (after `tsc`, it bundles ../lib)
import { rspack } from '@rspack/core';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
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
      { test: /\.css$/, use: ['style-loader', 'css-loader'] },
      { test: /\.(woff2?|ttf|eot|svg|png|gif)$/, type: 'asset/inline' }
    ]
  },
  resolve: { fallback: { crypto: false, path: false, fs: false } },
  performance: { hints: false },
  plugins: [new rspack.optimize.LimitChunkCountPlugin({ maxChunks: 1 })]
};

rspack(config, (err, stats) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(stats.toString({ colors: false, modules: false, assets: true }));
  if (stats.hasErrors()) process.exit(1);
});
