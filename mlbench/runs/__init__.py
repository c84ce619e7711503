"""Runs: what a run is (:mod:`.spec`), doing one (:mod:`.runner`), the results store
(:mod:`.store`), executing many (:mod:`.execute`: local, process pool, Ray) and the regression
gate (:mod:`.gate`). Import the submodules explicitly: only :mod:`.runner` and :mod:`.execute`
pull in the methods (and torch).
"""
