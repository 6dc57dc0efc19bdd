"""Regenerate README's configuration table from fitmirror.config.Settings."""

import re

from fitmirror.config import REPO_ROOT
from fitmirror.doctor import config_reference

readme = REPO_ROOT / "README.md"
text = readme.read_text()
text = re.sub(
    r"<!-- config:start -->.*<!-- config:end -->",
    lambda _: f"<!-- config:start -->\n{config_reference()}\n<!-- config:end -->",
    text,
    flags=re.S,
)
readme.write_text(text)
