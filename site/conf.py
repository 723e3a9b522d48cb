"""Sphinx configuration of the kit's site: the committed, executed notebooks rendered as they are, never re-run.

`make site` runs `site/prepare.py`, which copies this file, the pages, the guides and the notebooks (test markers
removed, claim cells folded) into `build/site-source/`, with MathJax from npm, then builds `build/site/`.
The public address in `pyproject.toml` (`make colab REPOSITORY=owner/name`), or `make site REPOSITORY=owner/name`
(and `BRANCH=`, default `main`), adds "Open in Colab" launch buttons and a repository link to every lesson page;
without one the site has neither, rather than a wrong address.
"""

import os

project = "tgai"
author = "the tgai maintainers"
html_title = "tgai: transfer learning for generative models"
extensions = ["myst_nb", "sphinx_copybutton"]
# The committed outputs are the lesson's record: render them, never execute (nbval checks them in make test).
nb_execution_mode = "off"
# Lesson 00's metrics primer writes its formulas as $...$ and $$...$$.
myst_enable_extensions = ["dollarmath", "amsmath"]
# Formulas render without a network: MathJax is served from the site itself (site/package.json pins it).
html_static_path = ["_static"]
mathjax_path = "mathjax/tex-chtml.js"
# README.md is read by the pages' include directives, not a page of its own.
exclude_patterns = ["_build", "README.md"]
# The copy button leaves out Python prompts and the outputs' text.
copybutton_exclude = ".linenos, .gp, .go"
html_theme = "sphinx_book_theme"
html_theme_options = {"home_page_in_toc": True, "show_navbar_depth": 1, "use_download_button": True}

repository = os.environ.get("TGAI_SITE_REPOSITORY", "").rstrip("/")
if repository:
    html_theme_options.update(
        repository_url=repository,
        repository_branch=os.environ.get("TGAI_SITE_BRANCH") or "main",
        # The pages are built from copies, but the launch buttons must open the notebooks where they live.
        path_to_docs="notebooks",
        use_repository_button=True,
        launch_buttons={"colab_url": "https://colab.research.google.com"},
    )
