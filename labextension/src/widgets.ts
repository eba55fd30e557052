// The widget classes this module registers (JupyterLab plugin and the offline HTML bundle).
export { FrequencyMapModel, FrequencyMapView } from './frequency_map';
export { HypergraphModel, HypergraphView } from './hypergraph_view';
export { SelectionModel, SpectrumLinkModel } from './selection';
export { VectorGalleryModel, VectorGalleryView } from './vector_gallery';
export { PageControllerModel, PageControllerView } from './page_controller';
