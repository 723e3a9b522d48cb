"""Sphinx configuration of the kit's site: the committed, executed notebooks rendered as they are, never re-run.

`make site` copies this file, `index.md` and the notebooks into `build/site-source/` and builds `build/site/`.
Set `REPOSITORY=https://github.com/<owner>/<name>` (and `BRANCH=`, default `main`) to add "Open in Colab" launch
buttons and a repository link to every lesson page; without it the site has neither, rather than a wrong address.
"""

import os

project = "tgai"
author = "the tgai maintainers"
html_title = "tgai: transfer learning for generative models"
extensions = ["myst_nb"]
# The committed outputs are the lesson's record: render them, never execute (nbval checks them in make test).
nb_execution_mode = "off"
# Lesson 00's metrics primer writes its formulas as $...$ and $$...$$.
myst_enable_extensions = ["dollarmath", "amsmath"]
exclude_patterns = ["_build"]
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
