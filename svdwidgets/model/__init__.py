"""Walking an ``nn.Module``: its analysable layers and the input size each one sees."""

from svdwidgets.model.discover import LayerRecord, find_layers

__all__ = ["LayerRecord", "find_layers"]
