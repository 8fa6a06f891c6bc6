"""Sphinx configuration: the sksvmnet site (pydata theme, numpydoc API reference, MyST
pages, a sphinx-gallery of examples executed at every build).

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (the ``docs`` extra).
"""

import os
import warnings

import sksvmnet

project = "sksvmnet"
author = "The sksvmnet developers"
copyright = "2026, the sksvmnet developers"
version = release = sksvmnet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "examples/README.txt", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.codeobj.json", "auto_examples/*.md5"]

# MyST: GitHub-style anchors for the pages' links to each other's headings.
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath", "colon_fence"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = f"sksvmnet {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []

# The gallery runs every example at each build, on the CPU, with nothing downloaded.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
}


def _skip_metadata_requests(app, what, name, obj, skip, options):
    # scikit-learn's generated set_fit_request & co. (metadata routing): documented by
    # scikit-learn, in terms of its own glossary.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)


warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")
