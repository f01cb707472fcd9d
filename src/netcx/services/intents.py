"""Intent use cases: load the taxonomy, detect session and household intents, score events."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from netcx.domain.intents.taxonomy import Taxonomy, parse_taxonomy
from netcx.errors import ConfigError

DEFAULT_TAXONOMY = "default_taxonomy.yaml"


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The taxonomy in `path`, or the default one shipped with netcx; validated at load."""
    if path is None:
        source = f"netcx/domain/intents/{DEFAULT_TAXONOMY}"
        text = (
            resources.files("netcx.domain.intents")
            .joinpath(DEFAULT_TAXONOMY)
            .read_text(encoding="utf-8")
        )
    else:
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"{source}: no such file")
        text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from err
    return parse_taxonomy(data, source)
