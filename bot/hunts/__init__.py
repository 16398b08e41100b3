"""Named hunts: typed parameters, safe KQL rendering, and the catalog of hunt files."""

from bot.hunts.arguments import split_arguments
from bot.hunts.catalog import Catalog, load_catalog
from bot.hunts.model import Entities, Hunt, RenderedHunt
from bot.hunts.params import Param, ParamType

__all__ = [
    "Catalog",
    "Entities",
    "Hunt",
    "Param",
    "ParamType",
    "RenderedHunt",
    "load_catalog",
    "split_arguments",
]
