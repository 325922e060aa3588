"""Helpers of the book: chapter setup, figures and the experiments the chapters run.

Nothing here is needed to use InCTRL (``import inctrl`` never imports this subpackage, and
it may use pandas, Matplotlib and seaborn):

* :mod:`~inctrl.book.notebook` - a chapter's setup (profile incl. ``"auto"``, device, seeds,
  style, progress bars, banner), glue and metrics;
* :mod:`~inctrl.book.progress` - one live progress bar per loop in a notebook;
* :mod:`~inctrl.book.viz` - the book's figure style, layout, images and heatmaps;
* :mod:`~inctrl.book.score_plots` - score histograms, ROC/PR curves, AUROC heatmaps;
* :mod:`~inctrl.book.diagram` - the InCTRL pipeline diagram of the index chapter;
* :mod:`~inctrl.book.elpv` - ELPV: prepared dataset, prompt draws, queries, cell types;
* :mod:`~inctrl.book.toy`, :mod:`~inctrl.book.patches` - chapter 1's toy, chapter 2's lookups;
* :mod:`~inctrl.book.offline_experiment` - the offline run chapters 5, 6 and the appendix share;
* :mod:`~inctrl.book.mini_study` - the appendix: how the offline backbone was chosen, and its record;
* :mod:`~inctrl.book.runs` - the trained runs chapters 5-7 share, finding checkpoints;
* :mod:`~inctrl.book.tables` - chapter 6's tables and findings, chapter 7's decisions;
* :mod:`~inctrl.book.speed` - chapter 8's live timing and benchmark tables;
* :mod:`~inctrl.book.findings` - the relations the text states, checked by the tests;
* :mod:`~inctrl.book.words` - counts and numbers in prose ("1 false alarm", "3", not "3.000");
* :mod:`~inctrl.book.environment` - the build's environment (shown once) and a chapter's profile line;
* :mod:`~inctrl.book.offline_math` - the Sphinx extension that serves MathJax from the build;
* :mod:`~inctrl.book.launch_buttons` - the Sphinx extension that keeps launch buttons off Markdown pages;
* :mod:`~inctrl.book.repo_url` - the repository URL of ``_config.yml`` in every Colab cell.
"""
