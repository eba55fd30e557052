// rspack loader for the vendored bqplot / bqscales front ends (embed/vendor/*/index.js): each is
// one AMD module, `define(["@jupyter-widgets/base"], factory)`, built for the classic notebook's
// require.js. Rather than turning on rspack's AMD parsing for every module (it would also send
// the UMD wrappers of our other dependencies down their AMD branch), this wraps just these files
// as CommonJS: their dependencies become require() calls that rspack resolves to the packages
// we bundle (the one @jupyter-widgets/base that the html-manager uses too).
const HEAD = /^(?:\/\*[\s\S]*?\*\/\s*)?define\(\s*(\[[^\]]*\])\s*,/;
const path = require('node:path');

module.exports = function amdToCommonJS(source) {
  // the messages name the package (bqplot/index.js), not the build checkout's absolute path,
  // which would otherwise end up in every exported page
  const where = path.relative(path.join(this.resourcePath, '..', '..'), this.resourcePath);
  const match = HEAD.exec(source);
  if (match === null) {
    throw new Error(`${this.resourcePath}: expected an AMD module starting with define([...], factory)`);
  }
  const deps = JSON.parse(match[1]);
  const requires = deps.map(d => `require(${JSON.stringify(d)})`).join(', ');
  return [
    'var __svdwAmdDefined = false;',
    'function define(deps, factory) {',
    `  if (__svdwAmdDefined) throw new Error(${JSON.stringify(`${where}: define() called twice`)});`,
    '  __svdwAmdDefined = true;',
    `  module.exports = factory(${requires});`,
    '}',
    source.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'),
    `if (!__svdwAmdDefined) throw new Error(${JSON.stringify(`${where}: define() was not called`)});`,
    ''
  ].join('\n');
};
