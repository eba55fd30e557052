// One version source: labextension/package.json (Python reads the same file through
// hatch-nodejs-version, so `_model_module_version` and the registered version agree).
declare function require(name: string): any;
const data = require('../package.json');

export const MODULE_NAME: string = data.name; // "svdwidgets"
export const MODULE_VERSION: string = data.version;
