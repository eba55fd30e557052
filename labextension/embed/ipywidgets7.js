// Stands in for @jupyter-widgets/base7 and controls7, the ipywidgets 7 front ends that the
// html-manager loads for models of ipywidgets 7 (base 1.x, controls 1.x). export_html writes
// state from ipywidgets 8 (our Python requirement), so they would never run; leaving them out
// keeps 240 KB (minified) out of every exported page. A version-7 model, from a page written otherwise,
// fails with this message in its place.
throw new Error('svdwidgets-embed: ipywidgets 7 widget state is not supported; export with ipywidgets 8');
